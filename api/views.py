"""The REST API for connections: list, read, create, change, delete, test, access token."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, Throttled, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from api import credentials, keys, writes
from api.errors import NOT_FOUND, LengthRequired
from api.models import ApiKey, Permission
from api.permissions import KeyPermission, request_key
from api.serializers import (
    AccessTokenSerializer,
    AuthorizationLinkOptionsSerializer,
    AuthorizationLinkSerializer,
    ConnectionFilterSerializer,
    ConnectionSerializer,
    ConnectionWriteSerializer,
    ErrorSerializer,
)
from common.db import MAX_ID
from common.text import name_key
from connections import access, events, links, services
from connections.models import Connection, Source


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error responses an operation documents, all in the one error shape."""
    sentences = {
        400: "The request was refused: see `fields`.",
        401: "No API key, or a key that is unknown, revoked or expired.",
        403: "The API key lacks the permission this operation needs.",
        404: "No connection with this id is within the key's reach.",
        409: "The request conflicts with stored data (a name already taken, a connection that "
        "must be re-authorized).",
        429: "The Front company's rate budget is used up: retry after `Retry-After` seconds.",
        502: "Front could not be reached or failed.",
        504: "Front did not answer in time.",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=sentences[code]) for code in codes}


def body_is_chunked(request: Request) -> bool:
    """A body sent without its length: Django's WSGI request would read it as empty."""
    encoding = request.META.get("HTTP_TRANSFER_ENCODING", "").strip().lower()
    return encoding not in {"", "identity"} and not request.META.get("CONTENT_LENGTH")


class KeyAuthenticatedMixin:
    # API views authenticate by key, so the sign-in middleware must not redirect them.

    @classmethod
    def as_view(cls, *args: Any, **kwargs: Any) -> Any:
        return login_not_required(super().as_view(*args, **kwargs))  # type: ignore[misc]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # History entries and transitions this request causes name the key it acts with.
        with ExitStack() as self._acting:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        # Refused rather than silently acted on with an empty body.
        if body_is_chunked(request):
            raise LengthRequired()
        key = request.auth
        if isinstance(key, ApiKey):
            self._acting.enter_context(events.acting_key(key.pk, key.name))


class ConnectionPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        limits = {
            "page": {"minimum": 1},
            "page_size": {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(limits.get(parameter["name"], {}))
        return parameters


def connection_id(value: str) -> int:
    """The id in the URL, or 404 for anything that cannot be a connection's id."""
    if not value.isascii() or not value.isdigit() or int(value) > MAX_ID:
        raise NotFound(NOT_FOUND)
    return int(value)


ID = OpenApiParameter(
    "id",
    {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    OpenApiParameter.PATH,
    description="The connection's id.",
)

PERMISSIONS = {
    "list": Permission.READ,
    "retrieve": Permission.READ,
    "create": Permission.WRITE,
    "update": Permission.WRITE,
    "partial_update": Permission.WRITE,
    "destroy": Permission.WRITE,
    "test": Permission.WRITE,
    "access_token": Permission.TOKEN,
    "authorization_link": Permission.AUTHORIZE,
}

RETURN_URL_REFUSED = _(
    "The return_url's origin (scheme, host and port) is not one of this API key's allowed "
    "return origins; add it to the key, or leave return_url out."
)


@extend_schema_view(
    list=extend_schema(
        summary="List the connections this key reaches",
        description="The connections within the key's reach, 50 a page (`page_size` up to 200), "
        "ordered by name, filtered by status, auth type, owner and team.",
        parameters=[ConnectionFilterSerializer],
        responses={200: ConnectionSerializer(many=True), **errors(400, 401, 403, 404)},
    ),
    retrieve=extend_schema(
        summary="Read a connection (secrets appear only as their state)",
        description="One connection; each secret shows only as `set`, `not_set` or `unreadable`.",
        parameters=[ID],
        responses={200: ConnectionSerializer, **errors(401, 403, 404)},
    ),
    create=extend_schema(
        summary="Create a connection, with the rules of the connection form",
        description="Creates a connection under the connection form's rules; a Token "
        "connection's token is checked against Front once saved.",
        request=ConnectionWriteSerializer,
        responses={201: ConnectionSerializer, **errors(400, 401, 403, 409)},
    ),
    update=extend_schema(
        summary="Replace a connection's fields",
        description="Replaces the connection's fields; every field of the form is sent. A blank "
        "`api_token` keeps the stored token.",
        parameters=[ID],
        request=ConnectionWriteSerializer,
        responses={200: ConnectionSerializer, **errors(400, 401, 403, 404, 409)},
    ),
    partial_update=extend_schema(
        summary="Change some of a connection's fields",
        description="Changes only the fields sent; the others keep their values.",
        parameters=[ID],
        request=ConnectionWriteSerializer,
        responses={200: ConnectionSerializer, **errors(400, 401, 403, 404, 409)},
    ),
    destroy=extend_schema(
        summary="Delete a connection",
        description="Deletes the connection and records it in the history.",
        parameters=[ID],
        responses={204: OpenApiResponse(description="Deleted."), **errors(401, 403, 404)},
    ),
)
class ConnectionViewSet(
    KeyAuthenticatedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Connections within the API key's reach."""

    serializer_class = ConnectionSerializer
    permission_classes = [KeyPermission]
    pagination_class = ConnectionPagination
    lookup_value_regex = "[^/]+"

    def required_permission(self, request: Request) -> Permission:
        return PERMISSIONS.get(self.action or "", Permission.READ)

    def reachable(self) -> QuerySet[Connection]:
        return keys.connections_for_key(request_key(self.request))

    def get_queryset(self) -> QuerySet[Connection]:
        connections = (
            self.reachable()
            .select_related("owner", "team", "oauth_client")
            .prefetch_related("scopes")
        )
        if self.action != "list":
            return connections
        filters = ConnectionFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        if "status" in wanted:
            connections = connections.filter(status=wanted["status"])
        if "auth_type" in wanted:
            connections = connections.filter(auth_type=wanted["auth_type"])
        if "owner" in wanted:
            connections = connections.filter(owner=access.owner_by_username(wanted["owner"]))
        if "team" in wanted:
            connections = connections.filter(team__name_key=name_key(wanted["team"]))
        return connections.order_by("name", "pk")

    def get_object(self) -> Connection:
        pk = connection_id(str(self.kwargs["pk"]))
        connection = self.get_queryset().filter(pk=pk).first()
        if connection is None:
            raise NotFound(NOT_FOUND)
        return connection

    def _shown(self, connection: Connection, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=connection.pk)
        return Response(ConnectionSerializer(fresh).data, status=code)

    def create(self, request: Request) -> Response:
        incoming = ConnectionWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        connection = writes.connection_create_for_key(
            key=request_key(request), data=dict(incoming.validated_data)
        )
        return self._shown(connection, status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str) -> Response:
        connection = self.get_object()
        incoming = ConnectionWriteSerializer(data=request.data, partial=self.action != "update")
        incoming.is_valid(raise_exception=True)
        changed = writes.connection_change_for_key(
            key=request_key(request), connection=connection, data=dict(incoming.validated_data)
        )
        return self._shown(changed)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk)

    def destroy(self, request: Request, pk: str) -> Response:
        writes.connection_delete_for_key(key=request_key(request), connection=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Test a connection against Front (GET /me) and record the result",
        description="Calls Front's `GET /me` with the connection's credentials within the "
        "company's rate budget and records the result and any change of status.",
        parameters=[ID],
        request=None,
        responses={200: ConnectionSerializer, **errors(401, 403, 404, 429)},
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        connection = self.get_object()
        services.connection_test(
            connection=connection, actor=keys.key_actor(request_key(request)), source=Source.API
        )
        return self._shown(connection)

    @extend_schema(
        summary="A bearer token for Front (refreshed first when it is near expiry)",
        description="The connection's bearer token for Front, refreshed first when it expires "
        "within 5 minutes. Never cached (`Cache-Control: no-store`).",
        parameters=[ID],
        request=None,
        responses={200: AccessTokenSerializer, **errors(401, 403, 404, 409, 429, 502, 504)},
    )
    @action(detail=True, methods=["post"], url_path="access-token", url_name="access-token")
    def access_token(self, request: Request, pk: str) -> Response:
        key = request_key(request)
        connection = self.reachable().filter(pk=connection_id(pk)).first()
        if connection is None:
            raise NotFound(NOT_FOUND)
        bearer = credentials.bearer_for(connection, actor=keys.key_actor(key), handout=True)
        keys.apikey_usage_count(key=key, connection=connection)
        credentials.mark_used(connection)
        body = AccessTokenSerializer(
            {"access_token": bearer.token, "token_type": "Bearer", "expires_at": bearer.expires_at}
        ).data
        # A credential must not be kept by any cache between here and the caller.
        return Response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @extend_schema(
        summary="Make a single-use authorization link for a Front admin",
        description="A link that lets an admin of the Front company authorize this OAuth 2.0 "
        "connection without a FrontConnect account. It works once, is bound to the connection "
        "as it is now (a connection changed since refuses it) and to its Front company once "
        "known, and expires after `expires_in` seconds. After the flow the browser goes to "
        "`return_url` (if given) with `connection` and `result` (`authorized`, `cancelled` or "
        "`failed`) added to its query. At most FRONTCONNECT_AUTHORIZATION_LINKS_PER_HOUR links "
        "per key and hour (then 429 with `Retry-After`).",
        parameters=[ID],
        request=AuthorizationLinkOptionsSerializer,
        responses={201: AuthorizationLinkSerializer, **errors(400, 401, 403, 404, 429)},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="authorization-link",
        url_name="authorization-link",
    )
    def authorization_link(self, request: Request, pk: str) -> Response:
        key = request_key(request)
        connection = self.get_object()
        incoming = AuthorizationLinkOptionsSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        wanted = incoming.validated_data
        return_url = wanted.get("return_url", "")
        if return_url and not key.return_url_allowed(return_url):
            raise ValidationError({"return_url": [RETURN_URL_REFUSED]})
        seconds = wanted.get("expires_in")
        try:
            made = links.authorization_link_create(
                connection=connection,
                created_by=keys.key_actor(key),
                source=Source.API,
                expires_in=timedelta(seconds=seconds) if seconds is not None else None,
                return_url=return_url,
                api_key_id=key.pk,
                api_key_name=key.name,
            )
        except links.LinkRateLimited as exc:
            raise Throttled(wait=exc.retry_after, detail=exc.messages[0]) from None
        keys.apikey_usage_count(key=key, connection=connection)
        body = AuthorizationLinkSerializer(
            {"url": made.url, "expires_at": made.link.expires_at}
        ).data
        # The URL is a credential for one authorization: no cache may keep it.
        return Response(
            body,
            status=status.HTTP_201_CREATED,
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )
