"""The REST API for connections: list, read, create, change, delete, test, access token."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from api import credentials, keys, writes
from api.errors import NOT_FOUND
from api.models import Permission
from api.permissions import KeyPermission, request_key
from api.serializers import (
    AccessTokenSerializer,
    ConnectionFilterSerializer,
    ConnectionSerializer,
    ConnectionWriteSerializer,
    ErrorSerializer,
)
from connections import services
from connections.models import Connection, Source

MAX_ID = 2**63 - 1


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


class KeyAuthenticatedMixin:
    # API views authenticate by key, so the sign-in middleware must not redirect them.

    @classmethod
    def as_view(cls, *args: Any, **kwargs: Any) -> Any:
        return login_not_required(super().as_view(*args, **kwargs))  # type: ignore[misc]


class ConnectionPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


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
}


@extend_schema_view(
    list=extend_schema(
        summary="List the connections this key reaches",
        parameters=[ConnectionFilterSerializer],
        responses={200: ConnectionSerializer(many=True), **errors(400, 401, 403, 404)},
    ),
    retrieve=extend_schema(
        summary="Read a connection (secrets appear only as their state)",
        parameters=[ID],
        responses={200: ConnectionSerializer, **errors(401, 403, 404)},
    ),
    create=extend_schema(
        summary="Create a connection, with the rules of the connection form",
        request=ConnectionWriteSerializer,
        responses={201: ConnectionSerializer, **errors(400, 401, 403, 409)},
    ),
    update=extend_schema(
        summary="Replace a connection's fields",
        parameters=[ID],
        request=ConnectionWriteSerializer,
        responses={200: ConnectionSerializer, **errors(400, 401, 403, 404, 409)},
    ),
    partial_update=extend_schema(
        summary="Change some of a connection's fields",
        parameters=[ID],
        request=ConnectionWriteSerializer,
        responses={200: ConnectionSerializer, **errors(400, 401, 403, 404, 409)},
    ),
    destroy=extend_schema(
        summary="Delete a connection",
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
            self.reachable().select_related("owner", "oauth_client").prefetch_related("scopes")
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
            connections = connections.filter(owner__username=wanted["owner"])
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
        parameters=[ID],
        request=None,
        responses={200: ConnectionSerializer, **errors(401, 403, 404, 429)},
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        connection = self.get_object()
        services.connection_test(
            connection=connection, actor=request_key(request).owner, source=Source.API
        )
        return self._shown(connection)

    @extend_schema(
        summary="A bearer token for Front (refreshed first when it is near expiry)",
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
        bearer = credentials.bearer_for(connection, actor=key.owner, handout=True)
        keys.apikey_usage_count(key=key, connection=connection)
        credentials.mark_used(connection)
        body = AccessTokenSerializer(
            {"access_token": bearer.token, "token_type": "Bearer", "expires_at": bearer.expires_at}
        ).data
        # A credential must not be kept by any cache between here and the caller.
        return Response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
