"""Every flow that writes connections or calls out to Front (the entry points other modules use).

Checks live in ``health``, tokens and refresh in ``tokens``, status changes in ``status``; they
are re-exported here so that views, the admin, commands and tasks import one module.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.db import transaction

from connections.events import event_record
from connections.health import CheckOutcome, CheckResult, connection_check, connection_test
from connections.models import Action, Connection, Scope, Status
from connections.status import connection_status_set
from connections.tokens import (
    REAUTHORIZE_NEEDED,
    REFRESH_MARGIN,
    RefreshBusy,
    connection_access_token,
    connection_refresh,
)

__all__ = [
    "REAUTHORIZE_NEEDED",
    "REFRESH_MARGIN",
    "CheckOutcome",
    "CheckResult",
    "RefreshBusy",
    "connection_access_token",
    "connection_check",
    "connection_delete",
    "connection_disconnect",
    "connection_refresh",
    "connection_save",
    "connection_test",
    "event_record",
]

# Written by refreshes and checks, not by an edit (unless the way of signing in changed).
RUNTIME_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "access_token_expires_at",
        "refresh_token_digest",
        "refresh_lease_id",
        "refresh_lease_until",
        "unreachable_since",
        "authorized_at",
        "front_company_id",
        "front_company_name",
        "last_checked_at",
        "last_check_result",
    }
)


def connection_save(
    *,
    connection: Connection,
    scopes: Iterable[Scope],
    actor: User | None,
    source: str,
    changed_fields: Iterable[str] = (),
) -> Connection:
    """Save a connection prepared by ConnectionForm, set its scopes, and record the change.

    An edit writes only what a form can change, so a refresh or check that landed after the form
    read the row is not undone; the status changes through the one door.
    """
    created = connection.pk is None
    with transaction.atomic():
        if created:
            connection.save()
        else:
            grant_changed = bool({"auth_type", "oauth_client"} & set(changed_fields))
            fields = [
                field.name
                for field in Connection._meta.concrete_fields
                if not field.primary_key
                and (field.name not in RUNTIME_FIELDS or grant_changed)
                and field.name != "status"
            ]
            if grant_changed:
                # The form voided the tokens; a refresh in flight must not bring them back.
                connection.refresh_token_digest = connection.refresh_lease_id = ""
                connection.refresh_lease_until = connection.unreachable_since = None
            status = connection.status
            connection.save(update_fields=fields)
            if grant_changed:
                connection_status_set(
                    connection=connection,
                    status=status,
                    reason="The way of signing in to Front changed.",
                    source=source,
                    actor=actor,
                )
        connection.scopes.set(list(scopes))
        event_record(
            connection=connection,
            action=Action.CREATED if created else Action.UPDATED,
            source=source,
            actor=actor,
            fields=changed_fields,
        )
    return connection


def connection_delete(*, connection: Connection, actor: User | None, source: str) -> None:
    """Delete a connection, keeping a 'deleted' entry in the history."""
    with transaction.atomic():
        event_record(connection=connection, action=Action.DELETED, source=source, actor=actor)
        connection.delete()


def connection_disconnect(*, connection: Connection, actor: User | None, source: str) -> Connection:
    """Forget the OAuth 2.0 tokens: the connection is Not authorized until authorized again."""
    reason = "Disconnected: the OAuth 2.0 tokens were deleted."
    with transaction.atomic():
        connection.access_token = ""
        connection.refresh_token = ""
        connection.access_token_expires_at = None
        connection.last_check_result = reason
        # A refresh in flight compares this digest and lease, so it cannot bring the tokens back.
        connection.refresh_token_digest = connection.refresh_lease_id = ""
        connection.refresh_lease_until = connection.unreachable_since = None
        connection.save(
            update_fields=[
                "access_token",
                "refresh_token",
                "access_token_expires_at",
                "refresh_token_digest",
                "refresh_lease_id",
                "refresh_lease_until",
                "unreachable_since",
                "last_check_result",
                "updated_at",
            ]
        )
        connection_status_set(
            connection=connection,
            status=Status.NOT_AUTHORIZED,
            reason=reason,
            source=source,
            actor=actor,
        )
        event_record(connection=connection, action=Action.DISCONNECTED, source=source, actor=actor)
    return connection
