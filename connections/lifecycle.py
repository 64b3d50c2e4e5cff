"""Lifecycle events of connections, for subscribers such as webhooks (``alerts.webhooks``).

The services that create, delete and authorize connections, make authorization links and fail
refreshes call ``lifecycle_emit``; subscribers get each event after its transaction commits, so
a rolled-back change is never announced. ``connections`` never imports ``alerts``: alerts
subscribes here, as it does to status transitions (``connections.status``).

An event's data names the connection (id and name) and what happened; never a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from common.wording import Said
from connections.models import Connection

logger = logging.getLogger(__name__)

CREATED = "connection.created"
DELETED = "connection.deleted"
AUTHORIZED = "connection.authorized"
LINK_CREATED = "connection.authorization_link.created"
LINK_USED = "connection.authorization_link.used"
LINK_EXPIRED = "connection.authorization_link.expired"
REFRESH_FAILED = "connection.refresh_failed"
# Status changes are Transitions (connections.status); webhooks name them with this type.
STATUS_CHANGED = "connection.status_changed"

EVENT_TYPES = (
    (STATUS_CHANGED, "Status changed"),
    (CREATED, "Connection created"),
    (DELETED, "Connection deleted"),
    (AUTHORIZED, "Connection authorized"),
    (LINK_CREATED, "Authorization link made"),
    (LINK_USED, "Authorization link used"),
    (LINK_EXPIRED, "Authorization link expired unused"),
    (REFRESH_FAILED, "Token refresh failed"),
)


@dataclass(frozen=True)
class LifecycleEvent:
    type: str
    connection_id: int | None
    data: dict[str, Any]
    occurred_at: datetime = field(default_factory=timezone.now)


# A handler gets the events of one write together (an import announces its rows at once).
LifecycleHandler = Callable[[list[LifecycleEvent]], None]
_handlers: list[LifecycleHandler] = []


def lifecycle_subscribe(handler: LifecycleHandler) -> LifecycleHandler:
    """Call ``handler`` with each lifecycle event after its transaction commits."""
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def _publish(events: list[LifecycleEvent]) -> None:
    for handler in list(_handlers):
        try:
            handler(events)
        except Exception:
            # One failing subscriber must not hide the event from the others, nor fail the write.
            logger.exception("Lifecycle handler %s failed for %s", handler, events[0].type)


def connection_data(connection: Connection) -> dict[str, Any]:
    """How an event names its connection: id, name, auth type, status; never a secret."""
    return {
        "id": connection.pk,
        "name": connection.name,
        "auth_type": connection.auth_type,
        "status": connection.status,
    }


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """Sentences as receivers get them: English words beside the stable code (``reason`` and
    ``reason_code``)."""
    plain: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, Said):
            plain[name], plain[f"{name}_code"] = value.english(), value.code
        else:
            plain[name] = value
    return plain


def lifecycle_emit(event_type: str, connection: Connection, **data: Any) -> LifecycleEvent:
    """Announce ``event_type`` about ``connection`` once the current transaction commits."""
    (event,) = lifecycle_emit_many(event_type, [connection], **data)
    return event


def lifecycle_emit_many(
    event_type: str, connections: list[Connection], **data: Any
) -> list[LifecycleEvent]:
    """Announce one ``event_type`` per connection, together, once the transaction commits."""
    data = _plain(data)
    events = [
        LifecycleEvent(
            type=event_type,
            connection_id=connection.pk,
            data={"connection": connection_data(connection), **data},
        )
        for connection in connections
    ]
    if events:
        transaction.on_commit(lambda: _publish(events))
    return events
