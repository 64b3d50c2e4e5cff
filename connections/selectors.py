"""Read-only queries that more than one view needs, written once."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from connections.models import Connection, Event

HISTORY_LENGTH = 50


def connection_list_for(user: User | AnonymousUser) -> QuerySet[Connection]:
    """The connections this user owns: the only queryset self-service views may look up in."""
    if not user.is_authenticated:
        return Connection.objects.none()
    return Connection.objects.filter(owner=user).select_related("oauth_client")


def connection_history(connection: Connection, limit: int = HISTORY_LENGTH) -> list[Event]:
    """The latest history entries of one connection, newest first, with their actors."""
    return list(connection.events.select_related("actor").order_by("-created_at", "-pk")[:limit])
