"""Read-only queries that more than one view needs, written once."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from connections import access
from connections.models import Connection, Event

HISTORY_LENGTH = 50


def connection_list_for(user: User | AnonymousUser) -> QuerySet[Connection]:
    """The self-service pages' connections: the user's own and their teams'
    (``connections.access``), operators included; the only queryset self-service views may
    look up in."""
    return access.connections_visible_to(user, as_operator=False).select_related(
        "oauth_client", "team"
    )


def connection_changeable_for(user: User | AnonymousUser) -> QuerySet[Connection]:
    """The self-service pages' connections this user may change (edit, delete, disconnect)."""
    return access.connections_changeable_by(user, as_operator=False).select_related(
        "oauth_client", "team"
    )


def connection_history(connection: Connection, limit: int = HISTORY_LENGTH) -> list[Event]:
    """The latest history entries of one connection, newest first, with their actors."""
    return list(connection.events.select_related("actor").order_by("-created_at", "-pk")[:limit])
