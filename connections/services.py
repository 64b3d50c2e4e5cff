"""Every flow that writes connections or calls out to Front (the entry points other modules use).

Checks live in ``health``, tokens and refresh in ``tokens``, status changes in ``status``; they
are re-exported here so that views, the admin, commands and tasks import one module.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from connections import lifecycle
from connections.events import event_record
from connections.health import (
    CheckOutcome,
    CheckResult,
    connection_check,
    connection_test,
)
from connections.models import Action, Connection, Status
from connections.status import connection_status_set
from connections.tokens import (
    REAUTHORIZE_INTERRUPTED,
    REAUTHORIZE_NEEDED,
    REFRESH_MARGIN,
    RefreshBusy,
    access_token_valid_until,
    connection_access_token,
    connection_refresh,
)
from connections.wording import said

__all__ = [
    "REAUTHORIZE_INTERRUPTED",
    "REAUTHORIZE_NEEDED",
    "REFRESH_MARGIN",
    "CheckOutcome",
    "CheckResult",
    "RefreshBusy",
    "access_token_valid_until",
    "connection_access_token",
    "connection_check",
    "connection_delete",
    "connection_disconnect",
    "connection_refresh",
    "connection_test",
    "event_record",
]


def connection_delete(*, connection: Connection, actor: User | None, source: str) -> None:
    """Delete a connection, keeping a 'deleted' entry in the history."""
    with transaction.atomic():
        event_record(connection=connection, action=Action.DELETED, source=source, actor=actor)
        lifecycle.lifecycle_emit(lifecycle.DELETED, connection, source=str(source))
        connection.delete()


def connection_disconnect(*, connection: Connection, actor: User | None, source: str) -> Connection:
    """Forget the OAuth 2.0 tokens: the connection is Not authorized until authorized again."""
    reason = said("sign_in.disconnected")
    with transaction.atomic():
        cleared = connection.tokens_clear() + connection.credential_change()
        connection.last_check_result = reason
        connection.save(update_fields=[*cleared, "last_check_result", "updated_at"])
        connection_status_set(
            connection=connection,
            status=Status.NOT_AUTHORIZED,
            reason=reason,
            source=source,
            actor=actor,
        )
        event_record(connection=connection, action=Action.DISCONNECTED, source=source, actor=actor)
    return connection
