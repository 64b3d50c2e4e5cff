"""A connection's bearer token for Front, through the services that own refresh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from connections import services, upkeep
from connections.front_types import FrontError, FrontErrorKind
from connections.models import Connection, Source, Status
from connections.wording import said


@dataclass(frozen=True)
class Bearer:
    token: str
    expires_at: datetime | None

    def __repr__(self) -> str:
        return f"<Bearer expires_at={self.expires_at}>"


def _api_token_accepted(connection: Connection, *, actor: User | None) -> None:
    """Raise unless Front accepted this connection's API token; check it now if never checked.

    The choice: an API token is handed out when the connection is Online; when it is Not
    checked yet, after a check made now (within the company's rate budget) finds it Online;
    when Offline only because Front has been unreachable (its last answer accepted the token).
    Never a token Front refused, nor one no answer has judged.
    """
    status = connection.status
    if status == Status.ONLINE or (status == Status.OFFLINE and connection.unreachable_since):
        return
    if status == Status.UNCHECKED:
        outcome = services.connection_check(connection=connection, actor=actor, source=Source.API)
        if outcome.online:
            return
        if outcome.result == services.CheckResult.UNCHECKED:
            raise FrontError(
                said("token.api_unchecked", reason=outcome.message),
                kind=outcome.error_kind or FrontErrorKind.UNAVAILABLE,
                retry_after=outcome.retry_after,
            )
    raise FrontError(
        said("token.api_refused", status=said(f"predicate.{connection.status}")),
        kind=FrontErrorKind.UNAUTHORIZED,
    )


@sensitive_variables("token")
def bearer_for(
    connection: Connection, *, actor: User | None = None, handout: bool = False
) -> Bearer:
    """The API token if Front accepted it, or the OAuth access token refreshed when near expiry.

    With ``handout`` (the token is given to a service to keep), ``expires_at`` is never later
    than the worker's planned refresh of the token, since Front may revoke an access token
    when it is refreshed; the proxy, which uses the token at once, does not need that.
    """
    if not connection.is_oauth:
        _api_token_accepted(connection, actor=actor)
    token = services.connection_access_token(
        connection=connection, actor=actor, source=Source.API, handout=handout
    )
    if handout:
        expires_at = services.access_token_valid_until(connection)
    else:
        expires_at = connection.access_token_expires_at if connection.is_oauth else None
    return Bearer(token=str(token), expires_at=expires_at)


def bearer_after_rejection(connection: Connection, *, actor: User | None) -> Bearer:
    """A new access token after Front answered 401 to the one sent (one refresh at most).

    If another caller refreshed since this connection was read, its token is taken instead.
    """
    services.connection_refresh(connection=connection, actor=actor, source=Source.API)
    return Bearer(token=str(connection.access_token), expires_at=connection.access_token_expires_at)


def mark_used(connection: Connection) -> None:
    """Stamp the connection as used by a service, so the worker keeps its token fresh."""
    used = connection.last_used_at
    if used is not None and timezone.now() - used < upkeep.USE_RESOLUTION:
        return  # Stamped within the stamp's resolution: no statement at all.
    upkeep.connection_mark_used(connection)
