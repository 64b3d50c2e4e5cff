"""At most FRONTCONNECT_PROXY_MAX_PER_KEY proxied calls in flight per API key, across processes.

Each key has that many numbered rows in ``ProxySlot``. A call takes one whose lease is free or
ran out with a conditional UPDATE (the database decides between racing processes: an UPDATE
re-checks its condition on the row it waited for), renews the lease while its answer streams,
and frees it when the answer is closed. A process that dies holding a slot leaks it only until
the lease runs out. On PostgreSQL the table is unlogged (``common.db.unlogged_table``): a lease
is short-lived bookkeeping, like the rate budget, so its writes commit without a disk wait.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django.utils.translation import ngettext
from rest_framework import exceptions, status

from api.models import ApiKey, ProxySlot
from common.text import seconds_text

# How long a slot stays held without a sign of life; renewed while the answer streams.
LEASE = timedelta(seconds=60)
# What a refused caller is told to wait, in seconds: calls through the proxy are short.
RETRY_AFTER = 1


class TooManyInFlight(exceptions.APIException):
    """Answered when the key already has its limit of proxied calls in flight."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_in_flight"

    def __init__(self, limit: int) -> None:
        self.wait = RETRY_AFTER
        message = ngettext(
            "This API key already has %(limit)s proxied call in flight, its limit: wait for it "
            "to finish, then try again in %(wait)s.",
            "This API key already has %(limit)s proxied calls in flight, its limit: wait for one "
            "to finish, then try again in %(wait)s.",
            limit,
        )
        super().__init__(message % {"limit": limit, "wait": seconds_text(RETRY_AFTER)})


def _run(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """One statement on the slots' table (named ``{table}`` in ``sql``); rows it returns.

    The slot statements are written out rather than built by the ORM: they run twice on every
    proxied call, and building them cost more CPU than the rest of the call's database work.
    """
    connection = connections[ProxySlot.objects.db]
    table = connection.ops.quote_name(ProxySlot._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql.format(table=table), params)
        return cursor.fetchall() if cursor.description else []


def _when(moment: datetime | None) -> object:
    return connections[ProxySlot.objects.db].ops.adapt_datetimefield_value(moment)


@dataclass
class Slot:
    """A held slot; ``renew()`` while the call lasts, ``release()`` exactly when it ends."""

    key_id: int
    number: int
    holder: str
    renew_after: datetime = field(default_factory=timezone.now)
    released: bool = False

    def renew(self) -> None:
        """Extend the lease when half of it has passed (one UPDATE per half lease at most)."""
        now = timezone.now()
        if self.released or now < self.renew_after:
            return
        _run(
            "UPDATE {table} SET lease_until = %s WHERE key_id = %s AND number = %s AND holder = %s",
            [_when(now + LEASE), self.key_id, self.number, self.holder],
        )
        self.renew_after = now + LEASE / 2

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        _run(
            "UPDATE {table} SET holder = '', lease_until = NULL "
            "WHERE key_id = %s AND number = %s AND holder = %s",
            [self.key_id, self.number, self.holder],
        )


def limit() -> int:
    return int(settings.FRONTCONNECT_PROXY_MAX_PER_KEY)


TAKE = (
    "UPDATE {table} SET holder = %s, lease_until = %s WHERE id = ("
    "SELECT id FROM {table} WHERE key_id = %s AND number < %s "
    "AND (lease_until IS NULL OR lease_until < %s) ORDER BY random() LIMIT 1) RETURNING number"
)
TAKE_SKIPPING_LOCKED = TAKE.replace("LIMIT 1)", "LIMIT 1 FOR UPDATE SKIP LOCKED)")


def _take(key: ApiKey, most: int, holder: str) -> int | None:
    """Take any free slot of the key's first ``most`` (or one whose lease ran out), in one
    statement. A random one, so racing calls spread over the rows; on PostgreSQL a row another
    call is taking is skipped rather than waited for, so a free one is never missed."""
    postgresql = connections[ProxySlot.objects.db].vendor == "postgresql"
    now = timezone.now()
    rows = _run(
        TAKE_SKIPPING_LOCKED if postgresql else TAKE,
        [holder, _when(now + LEASE), key.pk, most, _when(now)],
    )
    return int(rows[0][0]) if rows else None


def acquire(key: ApiKey) -> Slot:
    """Hold one of the key's slots, or raise TooManyInFlight (a 429) when all are held."""
    most = limit()
    holder = secrets.token_hex(16)
    number = _take(key, most, holder)
    if number is None:
        existing = ProxySlot.objects.filter(key=key, number__lt=most).count()
        if existing < most:
            # First use of the key (or a raised limit): make its rows.
            ProxySlot.objects.bulk_create(
                [ProxySlot(key=key, number=n) for n in range(most)], ignore_conflicts=True
            )
        # Try once more, also when the rows were there by now: a racing first call of the same
        # key may have made them between the take and the count (a spurious 429 otherwise).
        number = _take(key, most, holder)
    if number is None:
        raise TooManyInFlight(most)
    now = timezone.now()
    return Slot(key_id=key.pk, number=number, holder=holder, renew_after=now + LEASE / 2)
