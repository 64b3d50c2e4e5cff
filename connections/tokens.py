"""Access tokens on demand: claim, then call, then write back.

A refresh is claimed with a short lease (a conditional UPDATE that commits at once), Front is
called outside any transaction or row lock, and the new tokens are written back with a
compare-and-swap on the digest of the refresh token the call started from. Callers that lose the
claim poll briefly and take the token the winner stored, so one expiry causes one token request
across threads, processes and hosts.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from connections import front, ratelimit
from connections.events import event_record
from connections.front import FrontError, FrontErrorKind
from connections.models import Action, AuthType, Connection, Source, Status
from connections.status import connection_status_set

REFRESH_MARGIN = timedelta(minutes=5)
POLL_INTERVAL = 0.05
NOT_AUTHORIZED_YET = "Not authorized yet: use Save and authorize to sign in to Front."
REAUTHORIZE_NEEDED = (
    "Front no longer accepts this connection's authorization: use Save and authorize again."
)
TOKEN_FIELDS = ("access_token", "refresh_token", "access_token_expires_at", "refresh_token_digest")

Actor = User | AnonymousUser | None


class RefreshBusy(FrontError):
    """Another process holds this connection's refresh lease right now."""

    def __init__(self) -> None:
        super().__init__(
            "Another process is refreshing this connection's access token right now.",
            kind=FrontErrorKind.UNAVAILABLE,
        )


@sensitive_variables("token")
def token_digest(token: str) -> str:
    """SHA-256 of a refresh token, stored beside it so a write-back can compare it in SQL."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest() if token else ""


def _lease_length() -> timedelta:
    # Longer than the slowest token call: three attempts, each bounded by the timeout.
    return timedelta(seconds=3 * float(settings.FRONT_HTTP_TIMEOUT) + 10)


def _wait_seconds() -> float:
    return float(settings.FRONT_HTTP_TIMEOUT) + 5


def _reload(pk: int) -> Connection:
    return Connection.objects.select_related("oauth_client").get(pk=pk)


def _copy_tokens(source: Connection, target: Connection) -> None:
    for name in (*TOKEN_FIELDS, "status", "last_check_result"):
        setattr(target, name, getattr(source, name))


def _as_read(row: Connection) -> Q:
    """The row still holds the tokens (and client) that ``row`` was read with."""
    return Q(
        pk=row.pk,
        auth_type=AuthType.OAUTH2,
        oauth_client_id=row.oauth_client_id,
        refresh_token_digest=row.refresh_token_digest,
        access_token_expires_at=row.access_token_expires_at,
    )


def _claim(row: Connection) -> str | None:
    """Take the refresh lease if no live lease holds the row and its tokens are as read."""
    now = timezone.now()
    lease = secrets.token_hex(16)
    claimed = (
        Connection.objects.filter(_as_read(row))
        .filter(Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lt=now))
        .exclude(status=Status.REAUTHORIZE)
        .update(refresh_lease_until=now + _lease_length(), refresh_lease_id=lease)
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
            .values("refresh_token_digest", "access_token_expires_at", "refresh_lease_until")
            .first()
        )
        if (
            now is None
            or now["refresh_token_digest"] != row.refresh_token_digest
            or now["access_token_expires_at"] != row.access_token_expires_at
            or now["refresh_lease_until"] is None
            or now["refresh_lease_until"] < timezone.now()
        ):
            return
    raise FrontError(
        "This connection's access token is being refreshed by another process; try again in a "
        "moment.",
        kind=FrontErrorKind.UNAVAILABLE,
    )


@sensitive_variables("tokens", "secret")
def _refresh(
    *, connection: Connection, actor: Actor, source: Source | str, force: bool, wait: bool
) -> bool:
    """Refresh unless a fresh token is stored (or, when forced, someone refreshed since read).

    Returns whether this call obtained new tokens; ``connection`` gets the stored ones either way.
    """
    seen_expiry = connection.access_token_expires_at
    margin = int(REFRESH_MARGIN.total_seconds())
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
        if not row.is_oauth or not row.refresh_token or row.oauth_client is None:
            raise FrontError(NOT_AUTHORIZED_YET, kind=FrontErrorKind.UNAUTHORIZED)
        if waited:
            # The holder gave up without new tokens: report, rather than send the token again.
            raise FrontError(
                "The access token could not be refreshed just now; try again in a moment.",
                kind=FrontErrorKind.UNAVAILABLE,
            )
        lease = _claim(row)
        if lease is not None:
            break
        if not wait:
            raise RefreshBusy()
        _lease_wait(row, deadline)
        waited = True
    client = row.oauth_client
    secret = client.client_secret
    try:
        tokens = front.refresh_tokens(
            client_id=client.client_id,
            client_secret=str(secret),
            refresh_token=str(row.refresh_token),
            budget_key=ratelimit.budget_key(row),
        )
    except FrontError as exc:
        if not _refresh_failed(row, lease, exc, actor, source):
            _copy_tokens(_reload(row.pk), connection)
            return False
        _copy_tokens(_reload(row.pk), connection)
        raise
    except BaseException:
        _lease_release(row.pk, lease)
        raise
    stored = _refresh_store(row, lease, tokens, actor, source)
    current = _reload(row.pk)
    _copy_tokens(current, connection)
    if not stored and not (current.is_oauth and current.access_token):
        raise FrontError(
            "The connection changed while its access token was being refreshed; try again.",
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
    with transaction.atomic():
        stored = Connection.objects.filter(_as_read(row)).update(**values)
        if not stored:
            _lease_release(row.pk, lease)
        event_record(
            connection=row,
            action=Action.REFRESHED,
            source=source,
            actor=actor,
            success=bool(stored),
            message=f"Access token renewed until {tokens.expires_at:%Y-%m-%d %H:%M} UTC."
            if stored
            else "Front issued new tokens, but the connection was refreshed elsewhere, "
            "authorized again, disconnected or changed meanwhile, so they were not stored.",
        )
    return bool(stored)


def _refresh_failed(
    row: Connection, lease: str, exc: FrontError, actor: Actor, source: Source | str
) -> bool:
    """Record a failed refresh; False when the refusal was stale (another process won)."""
    with transaction.atomic():
        current = (
            Connection.objects.select_for_update()
            .filter(pk=row.pk)
            .values_list("refresh_token_digest", "access_token_expires_at")
            .first()
        )
        _lease_release(row.pk, lease)
        if current != (row.refresh_token_digest, row.access_token_expires_at):
            # Someone stored a newer refresh token while ours was on the way: Front refused a
            # token that is no longer ours to worry about.
            return False
        if exc.kind == FrontErrorKind.INVALID_GRANT:
            Connection.objects.filter(pk=row.pk).update(
                last_check_result=REAUTHORIZE_NEEDED, unreachable_since=None
            )
            connection_status_set(
                connection=row,
                status=Status.REAUTHORIZE,
                reason=REAUTHORIZE_NEEDED,
                source=source,
                actor=actor,
            )
        event_record(
            connection=row,
            action=Action.REFRESHED,
            source=source,
            actor=actor,
            success=False,
            message=str(exc),
        )
    return True


@sensitive_variables("fresh")
def connection_access_token(
    *, connection: Connection, actor: Actor = None, source: Source | str = Source.WORKER
) -> str:
    """A bearer token for Front: the API token, or an access token refreshed when near expiry."""
    if not connection.is_oauth:
        if not connection.api_token:
            raise FrontError(
                "No readable API token is stored: enter it again.",
                kind=FrontErrorKind.UNAUTHORIZED,
            )
        return str(connection.api_token)
    margin = int(REFRESH_MARGIN.total_seconds())
    if connection.access_token and not connection.access_token_expires_within(margin):
        return str(connection.access_token)
    _refresh(connection=connection, actor=actor, source=source, force=False, wait=True)
    return str(connection.access_token)


def connection_refresh(
    *, connection: Connection, actor: Actor = None, source: Source | str, wait: bool = True
) -> bool:
    """Refresh now, unless another process refreshed this connection since it was read.

    Returns whether this call obtained new tokens. With ``wait=False`` a connection whose lease
    another process holds raises ``RefreshBusy`` at once (``refreshtokens`` skips it).
    """
    if not connection.is_oauth:
        raise FrontError("Only OAuth 2.0 connections have tokens to refresh.")
    return _refresh(connection=connection, actor=actor, source=source, force=True, wait=wait)
