"""The Front proxy: a caller's request, sent on to Front with the connection's credentials."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseBase, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.views import APIView

from api import budget, credentials, keys
from api.errors import NOT_FOUND, RateBudgetExhausted
from api.models import ApiKey, Permission
from api.permissions import KeyPermission, request_key
from api.proxy_paths import PathRefused, front_path, front_query
from api.serializers import ErrorSerializer
from api.views import ID, KeyAuthenticatedMixin, connection_id
from connections import front
from connections.models import Connection

logger = logging.getLogger(__name__)

PROXY_PREFIX = "/front/"


class FrontErrorBodySerializer(serializers.Serializer):
    _error = serializers.DictField(help_text="Front's own error envelope, passed through.")


ERROR_OR_FRONT = PolymorphicProxySerializer(
    component_name="ProxyError",
    serializers=[ErrorSerializer, FrontErrorBodySerializer],
    resource_type_field_name=None,
)


class ProxyResponse(StreamingHttpResponse):
    """Front's answer streamed back; ``after`` runs once the server has sent it all."""

    def __init__(self, *args: Any, after: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._after: Callable[[], None] | None = after

    def close(self) -> None:
        # The WSGI server calls close() after the last byte went out, so this work adds nothing
        # to the caller's wait; it runs before super().close() releases the database connection.
        after, self._after = self._after, None
        try:
            if after is not None:
                after()
        except Exception:
            logger.exception("Could not record a proxied request's usage and rate limits.")
        finally:
            super().close()


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large to pass on to Front."


class AnyContent(DefaultContentNegotiation):
    """The proxy answers in whatever Front answers in, so the caller's Accept never fails here."""

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


def _raw_proxy_path(request: Request) -> str | None:
    """The undecoded path after /front/, when the server passes the request line on."""
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if not raw:
        return None
    path = str(raw).split("?", 1)[0]
    _, _, rest = path.partition(PROXY_PREFIX)
    return rest


# What the proxy reads of a connection; the other secrets are neither loaded nor decrypted.
PROXY_FIELDS = ("name", "auth_type", "api_token", "access_token", "access_token_expires_at",
                "status", "oauth_client", "owner", "front_company_id", "last_used_at")  # fmt: skip


def _lean_connection(key: ApiKey, pk: int) -> Connection:
    """The connection with what the proxy needs, and no secret it does not need decrypted."""
    connection = keys.connection_in_reach(key, pk, PROXY_FIELDS)
    if connection is None:
        raise exceptions.NotFound(NOT_FOUND)
    return connection


class FrontProxy(KeyAuthenticatedMixin, APIView):
    """Front's API, called with a connection's credentials."""

    permission_classes = [KeyPermission]
    content_negotiation_class = AnyContent

    def required_permission(self, request: Request) -> Permission:
        return Permission.PROXY

    @extend_schema(
        summary="Call Front's API with the connection's credentials",
        description="Forwards the method, the path after `front/`, the query string, the body "
        "and the Accept, Content-Type and conditional headers to Front's API base, and streams "
        "Front's answer back with its status, body and rate-limit headers. Paths that could "
        "leave Front's API base are refused with 400.",
        parameters=[
            ID,
            OpenApiParameter(
                "front_path",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="A path of Front's API, such as `me` or `conversations/cnv_1`.",
            ),
        ],
        request={"application/json": OpenApiTypes.OBJECT, "*/*": OpenApiTypes.BINARY},
        responses={
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.ANY, description="Front's answer, passed through."
            ),
            **{
                code: OpenApiResponse(ERROR_OR_FRONT, description=text)
                for code, text in {
                    400: "A path outside Front's API base, or Front refused the request.",
                    401: "No valid API key, or Front refused the credentials.",
                    403: "The key lacks the 'proxy' permission, or Front's token lacks a scope.",
                    404: "No such connection within the key's reach, or Front has no such "
                    "resource.",
                    409: "The connection has no usable credentials (re-authorize it).",
                    429: "The company's rate budget is used up: retry after `Retry-After`.",
                    502: "Front could not be reached.",
                    504: "Front did not answer in time.",
                }.items()
            },
            "default": OpenApiResponse(
                OpenApiTypes.ANY, description="Any other answer of Front, passed through."
            ),
        },
    )
    def get(self, request: Request, pk: str, front_path: str) -> HttpResponseBase:
        return self.forward(request, pk, front_path)

    post = put = patch = delete = get

    def forward(self, request: Request, pk: str, path: str) -> HttpResponseBase:
        key = request_key(request)
        try:
            relative = front_path(path, raw=_raw_proxy_path(request))
            query = front_query(request.META.get("QUERY_STRING", ""))
        except PathRefused as exc:
            raise exceptions.ValidationError({"front_path": [str(exc)]}) from None
        connection = _lean_connection(key, connection_id(pk))
        try:
            body = request.body
        except RequestDataTooBig:
            raise BodyTooLarge() from None
        headers = {name: request.headers[name] for name in front.FORWARD_REQUEST_HEADERS
                   if name in request.headers}  # fmt: skip
        # The owner's row is read only if a refresh records an event with it as the actor.
        actor = cast(User, request.user)
        bearer = credentials.bearer_for(connection, actor=actor)
        wait = float(settings.FRONTCONNECT_PROXY_BUDGET_WAIT)
        method = request.method or "GET"

        budget_key = budget.budget_key_for(connection)
        route = budget.budget_route(method, relative)

        def send(token: str) -> front.ForwardResponse:
            retry_after = budget.budget_wait(budget_key, api_key=key, route=route, wait=wait)
            if retry_after is not None:
                raise RateBudgetExhausted(retry_after)
            answer = front.forward(
                method, relative, token=token, query=query, body=body, headers=headers
            )
            return answer

        answer = send(bearer.token)
        if answer.status == 401 and connection.is_oauth:
            # The access token was rejected (revoked or expired early): refresh once, retry once.
            # The body is held in memory, so replaying it is safe.
            answer.close()
            answer = send(credentials.bearer_after_rejection(connection, actor=actor).token)
        response = ProxyResponse(
            answer.chunks(),
            status=answer.status,
            after=lambda: self.after_response(key, connection, budget_key, answer, route=route),
        )
        for name, value in answer.headers.items():
            response[name] = value
        response["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def after_response(
        key: ApiKey,
        connection: Connection,
        budget_key: str,
        answer: front.ForwardResponse,
        *,
        route: str = "",
    ) -> None:
        """Bookkeeping that the caller need not wait for: budget, usage tally, use stamp."""
        budget.budget_report(budget_key, answer.status, answer.headers, route=route)
        keys.proxy_usage.add(key=key, connection=connection)
        credentials.mark_used(connection)


front_proxy = FrontProxy.as_view()
