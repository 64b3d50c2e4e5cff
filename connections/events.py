"""The history of a connection: one append-only Event per thing done to it."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser, User

from connections.models import Connection, Event, Source


def event_record(
    *,
    connection: Connection,
    action: str,
    source: Source | str,
    actor: User | AnonymousUser | None = None,
    success: bool = True,
    message: str = "",
    fields: Iterable[str] = (),
) -> Event:
    """Append one history entry; the message must never contain a secret."""
    return Event.objects.create(
        connection=connection,
        connection_name=connection.name,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        source=source,
        success=success,
        message=message[:500],
        fields=sorted(fields),
    )
