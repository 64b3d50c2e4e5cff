"""The history of a connection: one append-only Event per thing done to it.

Every history entry is made by ``event_build`` (one place for what an entry holds: the actor
only when signed in, the message cut to its column, the fields sorted) and saved by
``event_record`` (one entry) or ``events_record`` (many at once, as the import and the key
rotation write them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from connections.models import Connection, Event, Source

# Entries per INSERT when many are written at once.
BULK_SIZE = 1000


def event_build(
    *,
    connection: Connection,
    action: str,
    source: Source | str,
    actor: User | AnonymousUser | None = None,
    success: bool = True,
    message: str = "",
    fields: Iterable[str] = (),
    created_at: datetime | None = None,
    linked: bool = True,
) -> Event:
    """One unsaved history entry; the message must never contain a secret.

    ``linked=False`` keeps only the connection's name: for a row being deleted, whose
    deletion would leave the link pointing at nothing.
    """
    event = Event(
        connection_id=connection.pk if linked else None,
        connection_name=connection.name,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        source=source,
        success=success,
        message=message[:500],
        fields=sorted(fields),
    )
    if created_at is not None:
        event.created_at = created_at
    return event


def event_record(**entry: Any) -> Event:
    """Append one history entry, given as ``event_build``'s arguments; never with a secret."""
    event = event_build(**entry)
    event.save()
    return event


def events_record(events: Sequence[Event]) -> list[Event]:
    """Append many entries made by ``event_build`` in few statements."""
    return Event.objects.bulk_create(events, batch_size=BULK_SIZE)
