"""Every flow that writes connections or calls out to Front (the entry points other modules use).

Checks live in ``health``, tokens and refresh in ``tokens``, status changes in ``status``; they
are re-exported here so that views, the admin, commands and tasks import one module.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from connections import rules
from connections.events import event_record
from connections.health import (
    UNCHECKED_PREFIX,
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

__all__ = [
    "UNCHECKED_PREFIX",
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
    "connection_move",
    "moved_sentence",
    "connection_refresh",
    "connection_test",
    "event_record",
]


def connection_delete(*, connection: Connection, actor: User | None, source: str) -> None:
    """Delete a connection, keeping a 'deleted' entry in the history."""
    with transaction.atomic():
        event_record(connection=connection, action=Action.DELETED, source=source, actor=actor)
        connection.delete()


def connection_disconnect(*, connection: Connection, actor: User | None, source: str) -> Connection:
    """Forget the OAuth 2.0 tokens: the connection is Not authorized until authorized again."""
    reason = "Disconnected: the OAuth 2.0 tokens were deleted."
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


def moved_sentence(old_team: Any, new_team: Any, *, owner: User | None = None) -> str:
    """The history's sentence for a move between teams (and, in an offboarding, owners)."""

    def side(team: Any) -> str:
        return f"team \u201c{team.name}\u201d" if team is not None else "its owner's own"

    sentence = f"Moved from {side(old_team)} to {side(new_team)}."
    if old_team is not None and new_team is not None and old_team.pk == new_team.pk:
        sentence = f"Stays in {side(new_team)}."
    if owner is not None:
        sentence += f" Now owned by {owner.get_username()}."
    return sentence


def connection_move(
    *,
    connection: Connection,
    team: Any,
    actor: User | None,
    source: str,
    owner: User | None = None,
    message: str = "",
) -> Connection:
    """Move a connection into, out of or between teams (``team`` None: its owner's own), and
    with ``owner`` hand it to another person; one history entry says so.

    The connection keeps its id, tokens and status. Who may move it is
    ``access.user_may_move``, asked by the caller; ValidationError when the name is taken
    where it goes.
    """
    new_owner = owner if owner is not None else connection.owner
    data = rules.ConnectionInput(
        name=connection.name,
        company_name=connection.company_name,
        auth_type=connection.auth_type,
        owner=new_owner,
        oauth_client=connection.oauth_client,
        scopes=frozenset(connection.scopes.all()),
        team=team,
    )
    sentence = message or moved_sentence(
        connection.team, team, owner=owner if owner is not None else None
    )
    result = rules.connection_apply(
        connection=connection,
        data=data,
        token_policy=rules.TokenPolicy.KEEP_IF_BLANK,
        actor=actor,
        source=source,
        message=sentence,
    )
    return result.connection
