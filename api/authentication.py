"""Bearer API keys for Django REST framework."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from api import keys
from api.models import ApiKey
from common.logs import log_context_update
from common.proxy import client_ip

INVALID_KEY = _(
    "This API key is not valid: it is unknown, revoked or expired. Ask an operator for a new one."
)
MALFORMED_HEADER = _("Send the API key as 'Authorization: Bearer fc_live_…'.")


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer fc_live_…``: the key's owner is the request's user."""

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise exceptions.AuthenticationFailed(MALFORMED_HEADER)
        key = keys.apikey_authenticate(credentials.strip())
        if key is None:
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        keys.apikey_touch(key, client_ip(request))
        # The owner came with the key (its rights are checked on every request); a team's key
        # acts as its creator, whose membership was checked with it.
        user = key.owner if key.owner_id is not None else keys.key_actor(key)
        log_context_update(api_key_id=key.pk, user_id=getattr(user, "pk", None))
        return user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A FrontConnect API key: Authorization: Bearer fc_live_…",
        }
