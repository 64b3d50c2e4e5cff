"""The history of a connection: one append-only Event per thing done to it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User

from connections.models import Connection, Event, Source


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
        **acting_key_fields(),
    )
