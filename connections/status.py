"""The one door through which a connection's status changes.

``connection_status_set`` is the only code that writes ``Connection.status`` after a row is
created. Each change from one status to another becomes a ``Transition`` row (old, new, reason,
when, source, actor); subscribers (alerts, webhooks) are called with it after the transaction
commits, so a rolled-back change never notifies anyone.

A verdict names the credential version it was made for (``version``); when the connection's
sign-in changed since (a new token saved, another auth type or client, authorized again,
disconnected), the verdict is recorded in the history as superseded and the status is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connections.events import acting_key_fields, event_record
from connections.models import Action, Connection, Source, Status, Transition
from connections.wording import Said, said

logger = logging.getLogger(__name__)

TransitionHandler = Callable[[Transition], None]
_handlers: list[TransitionHandler] = []


def transition_subscribe(handler: TransitionHandler) -> TransitionHandler:
    """Call ``handler`` with each transition after its transaction commits; usable as decorator."""
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def _publish(transition: Transition) -> None:
    for handler in list(_handlers):
        try:
            handler(transition)
        except Exception:
            # One failing subscriber (mail server down) must not hide the change from the others.
            logger.exception(
                "Transition handler %s failed for transition %s", handler, transition.pk
            )


def connection_status_set(
    *,
    connection: Connection,
    status: Status | str,
    reason: Said,
    source: Source | str,
    actor: User | AnonymousUser | None = None,
    version: int | None = None,
) -> Transition | None:
    """Move a saved connection to ``status``, recording a Transition if it really changed.

    The write is a compare-and-swap on the status read just before, so two processes racing to
    change one connection record two honest transitions, never a lost or invented one. With
    ``version`` (the credential version the verdict was made for), a connection whose sign-in
    changed since keeps its status and the verdict is recorded as superseded.
    """
    new = Status(status)
    with transaction.atomic():
        for _attempt in range(5):
            row = (
                Connection.objects.filter(pk=connection.pk)
                .values_list("status", "credential_version")
                .first()
            )
            if row is None:
                raise Connection.DoesNotExist(f"Connection {connection.pk} no longer exists.")
            old, current_version = row
            if version is not None and current_version != version:
                verdict = said("verdict.status", status=said(f"status.{new.value}"), reason=reason)
                verdict_superseded(
                    connection=connection, verdict=verdict, source=source, actor=actor
                )
                connection.status = old
                return None
            if old == new:
                connection.status = new
                return None
            mine = Q(credential_version=version) if version is not None else Q()
            swapped = Connection.objects.filter(mine, pk=connection.pk, status=old).update(
                status=new, updated_at=timezone.now()
            )
            if swapped:
                break
        else:  # pragma: no cover - five lost races in a row
            raise RuntimeError(f"Could not change the status of connection {connection.pk}.")
        transition = Transition.objects.create(
            connection=connection,
            connection_name=connection.name,
            old_status=old,
            new_status=new,
            reason=reason,
            source=Source(source),
            actor=actor if actor is not None and actor.is_authenticated else None,
            **acting_key_fields(),
        )
        transaction.on_commit(lambda: _publish(transition))
    connection.status = new
    return transition


def verdict_superseded(
    *,
    connection: Connection,
    verdict: Said,
    source: Source | str,
    actor: User | AnonymousUser | None = None,
) -> None:
    """Record in the history a verdict made for a sign-in that changed since; nothing else."""
    event_record(
        connection=connection,
        action=Action.SUPERSEDED,
        source=source,
        actor=actor,
        success=False,
        message=said("verdict.superseded", verdict=verdict),
    )
