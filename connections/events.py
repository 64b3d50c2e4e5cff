"""The history of a connection: one append-only Event per thing done to it.

Every history entry is made by ``event_build`` (one place for what an entry holds: the actor
only when signed in, the message cut to its column, the fields sorted) and saved by
``event_record`` (one entry) or ``events_record`` (many at once, as the import and the key
rotation write them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User

from common.wording import Said
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
    message: Said | str = "",
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
        message=message,
        fields=sorted(fields),
        **acting_key_fields(),
    )
    if created_at is not None:
        event.created_at = created_at
    return event


@dataclass(frozen=True)
class ActingKey:
    """The API key a request acts with: named in every Event and Transition it causes."""

    key_id: int
    name: str


_acting_key: ContextVar[ActingKey | None] = ContextVar("frontconnect_acting_key", default=None)


@contextmanager
def acting_key(key_id: int, name: str) -> Iterator[ActingKey]:
    """Within this block, history entries and transitions record the key (id and name).

    The API sets it for each request made with a key (``connections`` never imports ``api``:
    the key travels as plain values). Threads started inside do not inherit it.
    """
    acting = ActingKey(key_id=key_id, name=name[:100])
    token = _acting_key.set(acting)
    try:
        yield acting
    finally:
        _acting_key.reset(token)


def acting_key_fields() -> dict[str, object]:
    """The key columns of an Event or Transition written now: the acting key, or none."""
    acting = _acting_key.get()
    if acting is None:
        return {"api_key_id": None, "api_key_name": ""}
    return {"api_key_id": acting.key_id, "api_key_name": acting.name}


def event_record(**entry: Any) -> Event:
    """Append one history entry, given as ``event_build``'s arguments; never with a secret."""
    event = event_build(**entry)
    event.save()
    return event


def events_record(events: Sequence[Event]) -> list[Event]:
    """Append many entries made by ``event_build`` in few statements."""
    return Event.objects.bulk_create(events, batch_size=BULK_SIZE)
