"""Access tokens on demand: claim, then call, then write back.

A refresh is claimed with a short lease (a conditional UPDATE that commits at once), Front is
called outside any transaction or row lock, and the new tokens are written back with a
compare-and-swap on the digest of the refresh token the call started from. Callers that lose the
claim poll briefly and take the token the winner stored, so one expiry causes one token request
across threads, processes and hosts.

Leases are judged by the database's clock (``Now()`` in the conditional UPDATEs), never a host's,
and last longer than the token request's total deadline plus the write-back's retries. Every
write-back also compares the credential version the refresh started from, so tokens of a sign-in
that changed meanwhile are never stored. A lease found expired without a write-back marks the
row: if Front then refuses the grant, the reason says the refresh was interrupted.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import InterfaceError, OperationalError, transaction
from django.db import connection as db_connection
from django.db.models import BooleanField, Case, ExpressionWrapper, F, Q, Value, When
from django.db.models.functions import Now
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from common import metrics
from common.crypto import UndecryptableSecret
from connections import front, lifecycle, ratelimit, upkeep
from connections.events import event_record
from connections.front import FrontError, FrontErrorKind
from connections.models import Action, AuthType, Connection, Source, Status
from connections.status import connection_status_set, verdict_superseded
from connections.wording import said

logger = logging.getLogger(__name__)
T = TypeVar("T")

REFRESH_MARGIN = timedelta(minutes=5)
POLL_INTERVAL = 0.05
NOT_AUTHORIZED_YET = said("token.not_authorized_yet")
REAUTHORIZE_NEEDED = said("token.reauthorize")
REAUTHORIZE_INTERRUPTED = said("token.interrupted")
TOKEN_FIELDS = (
    "access_token",
    "refresh_token",
    "access_token_expires_at",
    "refresh_token_digest",
    "credential_version",
)
# Time a lease leaves beyond the token request and the write-back's retries: for the database
# round trips around them.
LEASE_MARGIN = timedelta(seconds=10)

Actor = User | AnonymousUser | None


def _unreadable(what: str) -> FrontError:
    """A stored secret no configured key decrypts: never Front refusing the credential.

    ``what`` is the code of the secret's name (``secret.api_token``, …)."""
    return FrontError(
        said("secret.unreadable", what=said(what)), kind=FrontErrorKind.SECRET_UNREADABLE
    )


class RefreshBusy(FrontError):
    """Another process holds this connection's refresh lease right now."""

    def __init__(self) -> None:
        super().__init__(
            said("token.refresh_busy_now"),
            kind=FrontErrorKind.UNAVAILABLE,
        )


@sensitive_variables("token")
def token_digest(token: str) -> str:
    """SHA-256 of a refresh token, stored beside it so a write-back can compare it in SQL."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest() if token else ""


def _writeback_seconds() -> float:
    return float(settings.FRONTCONNECT_WRITEBACK_RETRY_SECONDS)


def _lease_length() -> timedelta:
    """Longer than the token request can last (its total deadline) plus the write-back's retries.

    While the lease holds, nobody else sends the refresh token; a holder that outlives it is
    impossible short of a frozen process, and even then its write-back is a compare-and-swap.
    """
    seconds = front.token_call_deadline() + _writeback_seconds()
    return timedelta(seconds=seconds) + LEASE_MARGIN


def _wait_seconds() -> float:
    return float(settings.FRONT_HTTP_TIMEOUT) + 5


def _reload(pk: int) -> Connection:
    return Connection.objects.select_related("oauth_client").get(pk=pk)


def _copy_tokens(source: Connection, target: Connection) -> None:
    for name in (*TOKEN_FIELDS, "status", "last_check_result"):
        setattr(target, name, getattr(source, name))


def _as_read(row: Connection) -> Q:
    """The row still holds the sign-in, tokens (and client) that ``row`` was read with."""
    return Q(
        pk=row.pk,
        auth_type=AuthType.OAUTH2,
        credential_version=row.credential_version,
        oauth_client_id=row.oauth_client_id,
        refresh_token_digest=row.refresh_token_digest,
        access_token_expires_at=row.access_token_expires_at,
    )


def _claim(row: Connection) -> str | None:
    """Take the refresh lease if no live lease holds the row and its tokens are as read.

    Judged by the database's clock, so hosts whose clocks disagree still agree on the lease. A
    lease still named on the row here expired without a write-back or a release: its holder
    died mid-refresh, and the row keeps the mark (``refresh_interrupted_at``).
    """
    lease = secrets.token_hex(16)
    claimed = (
        Connection.objects.filter(_as_read(row))
        .filter(Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lt=Now()))
        .exclude(status=Status.REAUTHORIZE)
        .update(
            refresh_lease_until=Now() + _lease_length(),
            refresh_lease_id=lease,
            refresh_interrupted_at=Case(
                When(~Q(refresh_lease_id=""), then=Now()), default=F("refresh_interrupted_at")
            ),
        )
    )
    return lease if claimed else None


def _lease_cleared(lease: str) -> dict[str, Case]:
    """Update values that clear the lease only if it is still ``lease``."""
    return {
        "refresh_lease_id": Case(
            When(refresh_lease_id=lease, then=Value("")), default=F("refresh_lease_id")
        ),
        "refresh_lease_until": Case(
            When(refresh_lease_id=lease, then=Value(None)), default=F("refresh_lease_until")
        ),
    }


def _lease_release(pk: int, lease: str) -> None:
    Connection.objects.filter(pk=pk, refresh_lease_id=lease).update(
        refresh_lease_id="", refresh_lease_until=None
    )


def _lease_wait(row: Connection, deadline: float) -> None:
    """Poll until the holder wrote new tokens or gave the lease up; never call Front meanwhile."""
    while time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
        now = (
            Connection.objects.filter(pk=row.pk)
            .annotate(
                lease_live=ExpressionWrapper(
                    Q(refresh_lease_until__gte=Now()), output_field=BooleanField()
                )
            )
            .values("refresh_token_digest", "access_token_expires_at", "lease_live")
            .first()
        )
        if (
            now is None
            or now["refresh_token_digest"] != row.refresh_token_digest
            or now["access_token_expires_at"] != row.access_token_expires_at
            or not now["lease_live"]
        ):
            return
    raise FrontError(
        said("token.refresh_busy"),
        kind=FrontErrorKind.UNAVAILABLE,
    )


@sensitive_variables("tokens", "secret")
def _refresh(
    *,
    connection: Connection,
    actor: Actor,
    source: Source | str,
    force: bool,
    wait: bool,
    ahead: timedelta = REFRESH_MARGIN,
) -> bool:
    """Refresh unless a token fresh for ``ahead`` is stored (or, when forced, someone refreshed
    since read).

    Returns whether this call obtained new tokens; ``connection`` gets the stored ones either way.
    """
    seen_expiry = connection.access_token_expires_at
    margin = int(ahead.total_seconds())
    deadline = time.monotonic() + _wait_seconds()
    waited = False
    while True:
        row = _reload(connection.pk)
        fresh = bool(row.access_token) and not row.access_token_expires_within(margin)
        if fresh and (not force or waited or row.access_token_expires_at != seen_expiry):
            _copy_tokens(row, connection)
            return False
        if row.status == Status.REAUTHORIZE:
            _copy_tokens(row, connection)
            raise FrontError(REAUTHORIZE_NEEDED, kind=FrontErrorKind.INVALID_GRANT)
        if isinstance(row.refresh_token, UndecryptableSecret):
            raise _unreadable("secret.refresh_token")
        if row.oauth_client is not None and isinstance(
            row.oauth_client.client_secret, UndecryptableSecret
        ):
            raise _unreadable("secret.client_secret")
        if not row.is_oauth or not row.refresh_token or row.oauth_client is None:
            raise FrontError(NOT_AUTHORIZED_YET, kind=FrontErrorKind.UNAUTHORIZED)
        if waited:
            # The holder gave up without new tokens: report, rather than send the token again.
            raise FrontError(
                said("token.refresh_gave_up"),
                kind=FrontErrorKind.UNAVAILABLE,
            )
        lease = _claim(row)
        if lease is not None:
            break
        if not wait:
            raise RefreshBusy()
        _lease_wait(row, deadline)
        waited = True
    claimed_at = time.monotonic()
    client = row.oauth_client
    secret = client.client_secret
    try:
        # The lease outlasts this deadline (and the write-back below) by construction.
        with front.deadline_within(front.token_call_deadline()):
            tokens = front.refresh_tokens(
                client_id=client.client_id,
                client_secret=str(secret),
                refresh_token=str(row.refresh_token),
                budget_key=ratelimit.budget_key(row),
            )
    except FrontError as exc:
        metrics.REFRESHES.labels("unavailable" if exc.is_transient else "refused").inc()
        refusal = _refresh_failed(row, lease, exc, actor, source)
        _copy_tokens(_reload(row.pk), connection)
        if refusal is None:
            return False
        raise refusal from None
    except BaseException:
        _lease_release(row.pk, lease)
        raise
    # Nothing but the write-back between Front's answer and the database: the refresh token
    # Front just rotated exists nowhere else.
    until = min(
        time.monotonic() + _writeback_seconds(),
        claimed_at + (_lease_length() - LEASE_MARGIN).total_seconds(),
    )
    stored = _db_retry(lambda: _refresh_store(row, lease, tokens, actor, source), until=until)
    metrics.REFRESHES.labels("renewed" if stored else "not_stored").inc()
    current = _reload(row.pk)
    _copy_tokens(current, connection)
    if not stored and not (current.is_oauth and current.access_token):
        raise FrontError(
            said("token.changed_while_refreshing"),
            kind=FrontErrorKind.REFUSED,
        )
    return stored


@sensitive_variables("tokens", "values")
def _refresh_store(
    row: Connection, lease: str, tokens: front.TokenResponse, actor: Actor, source: Source | str
) -> bool:
    """Write the new tokens back if the row still holds what the call started from."""
    values: dict[str, object] = {
        "access_token": tokens.access_token,
        "access_token_expires_at": tokens.expires_at,
        "updated_at": timezone.now(),
        **_lease_cleared(lease),
    }
    if tokens.refresh_token:
        values["refresh_token"] = tokens.refresh_token
        values["refresh_token_digest"] = token_digest(tokens.refresh_token)
        if values["refresh_token_digest"] != row.refresh_token_digest:
            # A new grant lifetime starts: the worker keeps it alive near its end (upkeep).
            values["refresh_token_obtained_at"] = values["updated_at"]
    values["refresh_interrupted_at"] = None
    with transaction.atomic():
        stored = Connection.objects.filter(_as_read(row)).update(**values)
        if not stored and _stored_already(row, values):
            # An earlier attempt committed, but the database's answer was lost with the
            # connection (see _db_retry): the tokens and their history entry are there.
            return True
        if not stored:
            _lease_release(row.pk, lease)
        event_record(
            connection=row,
            action=Action.REFRESHED,
            source=source,
            actor=actor,
            success=bool(stored),
            message=said("token.renewed", until_at=tokens.expires_at)
            if stored
            else said("token.renewed_elsewhere"),
        )
    return bool(stored)


def _stored_already(row: Connection, values: dict[str, object]) -> bool:
    """Whether the row already holds the tokens of ``values`` (an earlier attempt's commit)."""
    mine = {
        "refresh_token_digest": values.get("refresh_token_digest", row.refresh_token_digest),
        "access_token_expires_at": values["access_token_expires_at"],
    }
    return Connection.objects.filter(
        pk=row.pk, credential_version=row.credential_version, **mine
    ).exists()


def _db_retry(work: Callable[[], T], *, until: float) -> T:
    """Run ``work``, retrying through database errors (a restart, a dropped connection) on a
    new connection with backoff until ``until`` (monotonic); inside a transaction, no retry."""
    delay = 0.2
    while True:
        try:
            return work()
        except (OperationalError, InterfaceError) as exc:
            if db_connection.in_atomic_block or time.monotonic() + delay > until:
                raise
            logger.warning(
                "The database failed while new tokens were written back (%s); retrying in %.1f s.",
                type(exc).__name__,
                delay,
            )
            db_connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _refresh_failed(
    row: Connection, lease: str, exc: FrontError, actor: Actor, source: Source | str
) -> FrontError | None:
    """Record a failed refresh and return the error to report; None when the refusal was stale
    (another process won, or the sign-in changed meanwhile)."""
    with transaction.atomic():
        current = (
            Connection.objects.select_for_update()
            .filter(pk=row.pk)
            .values_list(
                "refresh_token_digest",
                "access_token_expires_at",
                "credential_version",
                "refresh_interrupted_at",
            )
            .first()
        )
        _lease_release(row.pk, lease)
        if current is None:
            return None
        digest, expires, version, interrupted_at = current
        if version != row.credential_version:
            verdict_superseded(
                connection=row,
                verdict=said("token.refresh_failed", error=exc.message),
                source=source,
                actor=actor,
            )
            return None
        if (digest, expires) != (row.refresh_token_digest, row.access_token_expires_at):
            # Someone stored a newer refresh token while ours was on the way: Front refused a
            # token that is no longer ours to worry about.
            return None
        if exc.kind == FrontErrorKind.INVALID_GRANT:
            # A refresh that died between Front's answer and its write-back spent the grant.
            reason = REAUTHORIZE_NEEDED
            if interrupted_at is not None:
                reason = REAUTHORIZE_INTERRUPTED
                exc = FrontError(reason, kind=FrontErrorKind.INVALID_GRANT, rate=exc.rate)
            Connection.objects.filter(pk=row.pk).update(
                last_check_result=reason, unreachable_since=None
            )
            connection_status_set(
                connection=row,
                status=Status.REAUTHORIZE,
                reason=reason,
                source=source,
                actor=actor,
                version=row.credential_version,
            )
        event_record(
            connection=row,
            action=Action.REFRESHED,
            source=source,
            actor=actor,
            success=False,
            message=exc.message,
        )
        lifecycle.lifecycle_emit(
            lifecycle.REFRESH_FAILED, row, reason=exc.message, source=str(source)
        )
    return exc


def access_token_valid_until(connection: Connection) -> datetime | None:
    """Until when a handed-out access token is promised to work: its expiry, or the worker's
    planned refresh of it if that comes first (Front may revoke the old token on refresh)."""
    expires = connection.access_token_expires_at
    if not connection.is_oauth or expires is None:
        return None
    return min(expires, expires - upkeep.refresh_lead(connection))


@sensitive_variables("fresh")
def connection_access_token(
    *,
    connection: Connection,
    actor: Actor = None,
    source: Source | str = Source.WORKER,
    handout: bool = False,
) -> str:
    """A bearer token for Front: the API token, or an access token refreshed when near expiry.

    With ``handout`` (a token given to a service, promised until ``access_token_valid_until``)
    "near expiry" counts from the worker's planned refresh, so the promise is never already due.
    """
    if not connection.is_oauth:
        if isinstance(connection.api_token, UndecryptableSecret):
            raise _unreadable("secret.api_token")
        if not connection.api_token:
            raise FrontError(
                said("token.no_api_token"),
                kind=FrontErrorKind.UNAUTHORIZED,
            )
        return str(connection.api_token)
    ahead = REFRESH_MARGIN + (upkeep.refresh_lead(connection) if handout else timedelta(0))
    if connection.access_token and not connection.access_token_expires_within(
        int(ahead.total_seconds())
    ):
        return str(connection.access_token)
    _refresh(connection=connection, actor=actor, source=source, force=False, wait=True, ahead=ahead)
    return str(connection.access_token)


def connection_refresh(
    *, connection: Connection, actor: Actor = None, source: Source | str, wait: bool = True
) -> bool:
    """Refresh now, unless another process refreshed this connection since it was read.

    Returns whether this call obtained new tokens. With ``wait=False`` a connection whose lease
    another process holds raises ``RefreshBusy`` at once (``refreshtokens`` skips it).
    """
    if not connection.is_oauth:
        raise FrontError(said("token.not_oauth"))
    return _refresh(connection=connection, actor=actor, source=source, force=True, wait=wait)
