"""What the background worker does and when: due checks, due refreshes, use and heartbeats.

Checks: every connection that can be checked is due ``FRONTCONNECT_CHECK_INTERVAL_HOURS`` after
its last check plus a jitter fixed per connection, so a thousand connections imported together
do not all come due in the same minute again. Refreshes follow the refresh policy of SPEC.md:
ahead of expiry only for connections used in the last ``FRONTCONNECT_RECENT_USE_HOURS``, and daily
during the last 7 days of a refresh token's 6-month life, to keep the grant alive. When a grant
lapses is computed here only (``grant_lapses_at``, ``grants_lapsing_by``): the refreshes, the
dashboard and the owner's warning 14 days ahead all use it. The refresh rule is written here
once: the worker's periodic scan and the ``refreshtokens`` command (with its own window) use it.

A periodic check run claims the connections it is about to check (``connections_claim_due_check``:
a conditional UPDATE judged by the database clock), so two runs that overlap (a run longer than
its schedule, or two schedulers) check each connection once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import DateTimeField, ExpressionWrapper, Q
from django.db.models.functions import Now
from django.utils import timezone

from common.broker import OK
from connections.models import AuthType, Connection, Status, WorkerHeartbeat
from connections.wording import Said, said

# Front's refresh token lives 6 months from when it was obtained; the worker keeps it alive
# during its last 7 days, and the owner is warned 14 days before it lapses.
REFRESH_TOKEN_LIFETIME = timedelta(days=182)
KEEPALIVE_PERIOD = timedelta(days=7)
LAPSE_WARNING = timedelta(days=14)
# A kept-alive grant is refreshed at most about once a day (an access token lives an hour).
KEEPALIVE_EVERY = timedelta(hours=23)
# Refreshed ahead this long before expiry, plus up to REFRESH_SPREAD more per connection; callers
# refresh on demand only within 5 minutes of expiry, so the worker gets there first.
REFRESH_LEAD = timedelta(minutes=10)
REFRESH_SPREAD = timedelta(minutes=5)
# Up to this fraction of the check interval is added per connection.
CHECK_JITTER = 0.1
# Marking use writes at most this often per connection: the proxy may call many times a second.
USE_RESOLUTION = timedelta(minutes=1)
HEARTBEAT_NAME = "worker"
NO_REFRESH_TOKEN = ""  # the digest stored when a connection holds no refresh token
HEARTBEAT_MAX_AGE = timedelta(minutes=3)
# A check run releases its claims when it ends; a crashed run's claims lapse after this long.
CHECK_CLAIM = timedelta(minutes=30)
CLAIM_BATCH = 500


def spread(pk: int, span: timedelta) -> timedelta:
    """A fixed share of ``span`` for one connection, evenly spread over connections."""
    digest = hashlib.blake2b(str(pk).encode(), digest_size=4).digest()
    return span * (int.from_bytes(digest, "big") / 2**32)


def _check_interval() -> timedelta:
    return timedelta(hours=float(settings.FRONTCONNECT_CHECK_INTERVAL_HOURS))


def connection_mark_used(connection: Connection) -> None:
    """Record that a service used this connection's credentials (access token, proxy) now."""
    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - USE_RESOLUTION)
    ).update(last_used_at=now)
    connection.last_used_at = now


def connections_due_check(*, now: datetime | None = None, limit: int = 10_000) -> list[int]:
    """Ids of the connections whose periodic check is due, the longest waiting first."""
    now = now or timezone.now()
    interval = _check_interval()
    jitter = interval * CHECK_JITTER
    checkable = Q(auth_type=AuthType.TOKEN) | ~Q(status=Status.NOT_AUTHORIZED)
    candidates = (
        Connection.objects.filter(checkable)
        .filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=now - interval))
        .order_by("last_checked_at", "pk")
        .values_list("pk", "last_checked_at")
    )
    due = [
        pk
        for pk, checked in candidates.iterator(chunk_size=2000)
        if checked is None or checked + interval + spread(pk, jitter) <= now
    ]
    return due[:limit]


def connections_claim_due_check(
    claim: str, *, now: datetime | None = None, limit: int = 10_000
) -> list[int]:
    """Claim for the run ``claim`` the due connections no other run holds; their ids, in order.

    A connection checked since the due list was read (by an overlapping run) is no longer due
    in the UPDATE's own condition, so it is not claimed again.
    """
    now = now or timezone.now()
    due = connections_due_check(now=now, limit=limit)
    unclaimed = Q(check_claimed_until__isnull=True) | Q(check_claimed_until__lt=Now())
    still_due = Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=now - _check_interval())
    until = ExpressionWrapper(Now() + CHECK_CLAIM, output_field=DateTimeField())
    for start in range(0, len(due), CLAIM_BATCH):
        Connection.objects.filter(pk__in=due[start : start + CLAIM_BATCH]).filter(
            unclaimed, still_due
        ).update(check_claim=claim, check_claimed_until=until)
    mine = set(Connection.objects.filter(check_claim=claim).values_list("pk", flat=True))
    return [pk for pk in due if pk in mine]


def connections_release_check_claim(claim: str) -> None:
    """The run ``claim`` ended: what it did not check is free for the next run."""
    Connection.objects.filter(check_claim=claim).update(check_claim="", check_claimed_until=None)


def grant_lapses_at(connection: Connection) -> datetime | None:
    """When the OAuth grant lapses unless Front renews its refresh token; None without one."""
    if not connection.is_oauth or not connection.refresh_token_digest:
        return None
    # A re-authorization and a new refresh token each start a new lifetime: the later one counts.
    started = [
        moment
        for moment in (connection.refresh_token_obtained_at, connection.authorized_at)
        if moment is not None
    ]
    return max(started) + REFRESH_TOKEN_LIFETIME if started else None


def grants_lapsing_by(moment: datetime) -> Q:
    """The connections whose ``grant_lapses_at`` is at or before ``moment`` (in SQL)."""
    cut = moment - REFRESH_TOKEN_LIFETIME
    started_by_cut = (
        Q(refresh_token_obtained_at__lte=cut, authorized_at__lte=cut)
        | Q(refresh_token_obtained_at__isnull=True, authorized_at__lte=cut)
        | Q(refresh_token_obtained_at__lte=cut, authorized_at__isnull=True)
    )
    return Q(auth_type=AuthType.OAUTH2) & ~Q(refresh_token_digest=NO_REFRESH_TOKEN) & started_by_cut


def _recent_use() -> timedelta:
    return timedelta(hours=float(settings.FRONTCONNECT_RECENT_USE_HOURS))


def refresh_lead(connection: Connection) -> timedelta:
    """How long before its access token expires the worker refreshes a connection in use."""
    return REFRESH_LEAD + spread(connection.pk, REFRESH_SPREAD)


def connection_refresh_due(
    connection: Connection, *, now: datetime | None = None, within: timedelta | None = None
) -> bool:
    """Whether this connection's tokens should be refreshed now (the refresh policy).

    ``within`` is how long before expiry a recently used connection is refreshed; by default
    the worker's lead (``refresh_lead``).
    """
    now = now or timezone.now()
    if (
        not connection.is_oauth
        or not connection.refresh_token_digest
        or connection.status in (Status.REAUTHORIZE, Status.NOT_AUTHORIZED)
    ):
        return False
    expires = connection.access_token_expires_at
    used = connection.last_used_at
    if used is not None and used >= now - _recent_use():
        lead = refresh_lead(connection) if within is None else within
        if expires is None or expires <= now + lead:
            return True
    lapses = grant_lapses_at(connection)
    near_end = lapses is not None and lapses <= now + KEEPALIVE_PERIOD
    not_today = expires is None or expires <= now - KEEPALIVE_EVERY + timedelta(hours=1)
    return near_end and not_today


def connections_due_refresh(
    *, now: datetime | None = None, within: timedelta | None = None
) -> list[int]:
    """Ids of the OAuth connections whose tokens should be refreshed now, soonest expiry first.

    ``within`` as for ``connection_refresh_due``. Nothing here is held in a queue: each scan
    finds again whatever is still due, so a refresh whose message was lost is found next time.
    """
    now = now or timezone.now()
    near_end = grants_lapsing_by(now + KEEPALIVE_PERIOD)
    lead = within if within is not None else REFRESH_LEAD + REFRESH_SPREAD
    soon = Q(access_token_expires_at__isnull=True) | Q(access_token_expires_at__lte=now + lead)
    candidates = (
        Connection.objects.filter(auth_type=AuthType.OAUTH2)
        .exclude(refresh_token_digest=NO_REFRESH_TOKEN)
        .exclude(status__in=[Status.REAUTHORIZE, Status.NOT_AUTHORIZED])
        .filter((Q(last_used_at__gte=now - _recent_use()) & soon) | near_end)
        .only(
            "pk",
            "auth_type",
            "status",
            "refresh_token_digest",
            "access_token_expires_at",
            "last_used_at",
            "refresh_token_obtained_at",
            "authorized_at",
        )
        .order_by("access_token_expires_at", "pk")
    )
    return [
        c.pk
        for c in candidates.iterator(chunk_size=2000)
        if connection_refresh_due(c, now=now, within=within)
    ]


def heartbeat_record(*, name: str = HEARTBEAT_NAME) -> None:
    """The worker ran a task just now."""
    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now()})


def heartbeat_age() -> timedelta | None:
    """How long ago a worker last ran its heartbeat task; None if none ever did."""
    beat = WorkerHeartbeat.objects.filter(name=HEARTBEAT_NAME).values_list("beat_at", flat=True)
    last = beat.first()
    return None if last is None else timezone.now() - last


def worker_state() -> str | Said:
    """``ok`` when a worker ran its heartbeat task recently, else why not (for /healthz)."""
    age = heartbeat_age()
    if age is None:
        return said("health.no_heartbeat")
    if age > HEARTBEAT_MAX_AGE:
        return said("health.stale_heartbeat", minutes=int(age.total_seconds() // 60))
    return OK
