"""The Front proxy: a caller's request, sent on to Front with the connection's credentials."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseBase, StreamingHttpResponse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _
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
from rest_framework.response import Response
from rest_framework.views import APIView

from api import budget, credentials, keys, slots
from api.errors import NOT_FOUND, RateBudgetExhausted
from api.models import ApiKey, Permission
from api.permissions import KeyPermission, request_key
from api.proxy_paths import PathRefused, front_path, front_query
from api.serializers import ErrorSerializer
from api.views import ID, KeyAuthenticatedMixin, connection_id
from common import metrics, serving
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


# Front's query parameters pass through as they are: a generated client sends them as a map.
FRONT_QUERY = OpenApiParameter(
    "query",
    {"type": "object", "additionalProperties": {"type": "string"}},
    OpenApiParameter.QUERY,
    style="form",
    explode=True,
    description="Front's own query parameters, forwarded unchanged (for example `limit=5`, "
    "`q=status:open`, `page_token=…`).",
)
FRONT_PATH = OpenApiParameter(
    "front_path",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="A path of Front's API, such as `me` or `conversations/cnv_1`.",
)
PROXY_ERRORS = {
    400: "A path outside Front's API base, or Front refused the request.",
    401: "No valid API key, or Front refused the credentials.",
    403: "The key lacks the 'proxy' permission, or Front's token lacks a scope.",
    404: "No such connection within the key's reach, or Front has no such resource.",
    409: "The connection has no usable credentials (re-authorize it).",
    429: "The company's rate budget is used up, or the key already has "
    "`FRONTCONNECT_PROXY_MAX_PER_KEY` calls in flight: retry after `Retry-After`.",
    502: "Front could not be reached.",
    504: "Front did not answer in time.",
}


def proxy_operation(method: str, summary: str, answer: str) -> Callable[[Any], Any]:
    """The schema of one proxied method: its own summary and description, the shared rest."""
    sends_body = method in {"POST", "PUT", "PATCH"}
    description = (
        f"Sends `{method}` to the path after `front/` on Front's API with the connection's "
        "credentials, with the query string"
        + (", the body" if sends_body else "")
        + " and the Accept, Content-Type and conditional headers, and streams Front's answer "
        "back with its status, body and rate-limit headers. Paths that could leave Front's API "
        "base are refused with 400 before anything is sent."
    )
    return extend_schema(
        summary=summary,
        description=description,
        parameters=[ID, FRONT_PATH, FRONT_QUERY],
        request=(
            {"application/json": OpenApiTypes.OBJECT, "*/*": OpenApiTypes.BINARY}
            if sends_body
            else None
        ),
        responses={
            (200, "*/*"): OpenApiResponse(OpenApiTypes.ANY, description=answer),
            **{
                code: OpenApiResponse(ERROR_OR_FRONT, description=text)
                for code, text in PROXY_ERRORS.items()
            },
            "default": OpenApiResponse(
                OpenApiTypes.ANY, description="Any other answer of Front, passed through."
            ),
        },
    )


class ProxyResponse(StreamingHttpResponse):
    """Front's answer streamed back; ``after`` runs once the server has sent it all.

    The key's proxy slot is renewed while the answer streams and freed as soon as Front's answer
    has run out (before the server writes its end), or when it is closed unfinished (abandoned
    by a client that stopped reading).
    """

    def __init__(
        self, chunks: Iterator[bytes], *args: Any, after: Callable[[], None], slot: slots.Slot,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(self._renewing(chunks, slot), *args, **kwargs)
        self._after: Callable[[], None] | None = after
        self._slot = slot

    @classmethod
    def _renewing(cls, chunks: Iterator[bytes], slot: slots.Slot) -> Iterator[bytes]:
        for chunk in chunks:
            slot.renew()
            yield chunk
        # Front's whole answer is in the server's hands: the slot is free now, before the
        # server ends the answer (its last chunk, then close()). Freed in close() only, it was
        # sometimes still held when the caller, having read the end, sent its next call (429).
        cls._free(slot)

    @staticmethod
    def _free(slot: slots.Slot) -> None:
        try:
            slot.release()
        except Exception:
            logger.exception("Could not free a proxied request's slot (its lease will end).")

    def close(self) -> None:
        # The WSGI server calls close() after the last byte went out, so this work adds nothing
        # to the caller's wait; it runs before super().close() releases the database connection.
        after, self._after = self._after, None
        # An answer abandoned before its end (the client went away) frees its slot here, before
        # the bookkeeping; one read to the end freed it already (``release`` runs once).
        self._free(self._slot)
        try:
            if after is not None:
                after()
        except Exception:
            logger.exception("Could not record a proxied request's usage and rate limits.")
        finally:
            super().close()


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large to pass on to Front.")


class ServerBusy(exceptions.APIException):
    """No turn for the call's own work came in time (``common.serving.proxy_turn``)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "busy"
    default_detail = _("FrontConnect is busy with other proxied calls: try again in a second.")
    wait = 1


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

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # The call's own work (from the key on) waits for a turn; the turn ends when the call
        # starts waiting for Front, or with the request.
        self._acting.enter_context(serving.proxy_turn())
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        # No turn came in time, at the start or after waiting for room in the budget.
        if isinstance(exc, serving.NoTurn):
            exc = ServerBusy()
        return super().handle_exception(exc)

    # Exactly the methods the schema documents: Django would otherwise answer HEAD with GET.
    http_method_names = ["get", "post", "put", "patch", "delete"]

    @proxy_operation("GET", "Read from Front's API", "Front's answer to a GET of the path.")
    def get(self, request: Request, pk: str, front_path: str) -> HttpResponseBase:
        return self.forward(request, pk, front_path)

    @proxy_operation("POST", "Create in Front's API", "Front's answer to the POSTed body.")
    def post(self, request: Request, pk: str, front_path: str) -> HttpResponseBase:
        return self.forward(request, pk, front_path)

    @proxy_operation("PUT", "Replace in Front's API", "Front's answer to the PUT body.")
    def put(self, request: Request, pk: str, front_path: str) -> HttpResponseBase:
        return self.forward(request, pk, front_path)

    @proxy_operation("PATCH", "Change in Front's API", "Front's answer to the PATCH body.")
    def patch(self, request: Request, pk: str, front_path: str) -> HttpResponseBase:
        return self.forward(request, pk, front_path)

    @proxy_operation("DELETE", "Delete in Front's API", "Front's answer to the DELETE.")
    def delete(self, request: Request, pk: str, front_path: str) -> HttpResponseBase:
        return self.forward(request, pk, front_path)

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
        # The creator's row is read only if a refresh records an event with it as the actor.
        actor = cast(User, SimpleLazyObject(lambda: keys.key_actor(key)))
        bearer = credentials.bearer_for(connection, actor=actor)
        wait = float(settings.FRONTCONNECT_PROXY_BUDGET_WAIT)
        method = request.method or "GET"

        budget_key = budget.budget_key_for(connection)
        route = budget.budget_route(method, relative)

        # The token stays inside the Bearer (whose repr hides it): no plain local holds it, so
        # no error page or report can show it.
        def send(credential: credentials.Bearer) -> front.ForwardResponse:
            deferred = budget.budget_wait(budget_key, api_key=key, route=route, wait=wait)
            if deferred is not None:
                raise RateBudgetExhausted(deferred.retry_after, held=deferred.held)
            # No database work until Front answers: another thread may use the connection.
            serving.hand_back_database_connection()
            answer = front.forward(
                method, relative, token=credential.token, query=query, body=body, headers=headers
            )
            return answer

        # From here until the answer is closed the call holds one of the key's slots.
        slot = slots.acquire(key)
        try:
            answer = send(bearer)
            if answer.status == 401 and connection.is_oauth:
                # The access token was rejected (revoked or expired early): refresh once, retry
                # once. The body is held in memory, so replaying it is safe.
                answer.close()
                answer = send(credentials.bearer_after_rejection(connection, actor=actor))
        except BaseException:
            slot.release()
            raise
        response = ProxyResponse(
            answer.chunks(),
            status=answer.status,
            after=lambda: self.after_response(key, connection, budget_key, answer, route=route),
            slot=slot,
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


front_proxy = metrics.proxy_counted(FrontProxy.as_view())
