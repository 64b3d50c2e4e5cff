"""Every flow that writes connections or calls out to Front."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from connections.models import Action, Connection, Event, Scope


def event_record(
    *,
    connection: Connection,
    action: str,
    source: str,
    actor: AbstractBaseUser | None = None,
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


def connection_save(
    *,
    connection: Connection,
    scopes: Iterable[Scope],
    actor: AbstractBaseUser | None,
    source: str,
    changed_fields: Iterable[str] = (),
) -> Connection:
    """Save a connection prepared by ConnectionForm, set its scopes, and record the change."""
    created = connection.pk is None
    with transaction.atomic():
        connection.save()
        connection.scopes.set(list(scopes))
        event_record(
            connection=connection,
            action=Action.CREATED if created else Action.UPDATED,
            source=source,
            actor=actor,
            fields=changed_fields,
        )
    return connection


def connection_delete(
    *, connection: Connection, actor: AbstractBaseUser | None, source: str
) -> None:
    """Delete a connection, keeping a 'deleted' entry in the history."""
    with transaction.atomic():
        event_record(connection=connection, action=Action.DELETED, source=source, actor=actor)
        connection.delete()
