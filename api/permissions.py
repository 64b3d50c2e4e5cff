"""What an API key may do: one permission per kind of request."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from api.models import ApiKey, Permission

# The permission codes ('read', ...) are the API's own words: a translation keeps them as they are.
MISSING = {
    Permission.READ: _("This API key may not read connections (it lacks the 'read' permission)."),
    Permission.TOKEN: _(
        "This API key may not get access tokens (it lacks the 'token' permission)."
    ),
    Permission.PROXY: _(
        "This API key may not call Front through the proxy (it lacks the 'proxy' permission)."
    ),
    Permission.WRITE: _(
        "This API key may not create, change, test or delete connections (it lacks the 'write' "
        "permission)."
    ),
    Permission.AUTHORIZE: _(
        "This API key may not make authorization links (it lacks the 'authorize' permission)."
    ),
}


def request_key(request: Request) -> ApiKey:
    """The API key that authenticated this request."""
    key = request.auth
    if not isinstance(key, ApiKey):
        # KeyPermission refuses such requests before any view code runs; never reached.
        raise NotAuthenticated()
    return key


class KeyPermission(BasePermission):
    """Grants a view's action when the key holds the permission the view names for it."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not isinstance(request.auth, ApiKey):
            return False
        needed: Permission = view.required_permission(request)
        self.message = MISSING[needed]
        return request.auth.allows(needed)
