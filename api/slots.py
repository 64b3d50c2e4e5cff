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

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from rest_framework import exceptions, status

from api.models import ApiKey, ProxySlot

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
        super().__init__(
            f"This API key already has {limit} proxied calls in flight, its limit: "
            f"wait for one to finish, then try again in {RETRY_AFTER} second."
        )


@dataclass
class Slot:
    """A held slot; ``renew()`` while the call lasts, ``release()`` exactly when it ends."""

    key_id: int
    number: int
    holder: str
    renew_after: datetime = field(default_factory=timezone.now)
    released: bool = False

    def _mine(self) -> Q:
        return Q(key_id=self.key_id, number=self.number, holder=self.holder)

    def renew(self) -> None:
        """Extend the lease when half of it has passed (one UPDATE per half lease at most)."""
        now = timezone.now()
        if self.released or now < self.renew_after:
            return
        ProxySlot.objects.filter(self._mine()).update(lease_until=now + LEASE)
        self.renew_after = now + LEASE / 2

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        ProxySlot.objects.filter(self._mine()).update(holder="", lease_until=None)


def limit() -> int:
    return int(settings.FRONTCONNECT_PROXY_MAX_PER_KEY)


def _take(key: ApiKey, numbers: list[int], holder: str) -> int | None:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    for number in numbers:
        taken = (
            ProxySlot.objects.filter(free, key=key, number=number)
            .update(holder=holder, lease_until=now + LEASE)
        )  # fmt: skip
        if taken:
            return number
    return None


def acquire(key: ApiKey) -> Slot:
    """Hold one of the key's slots, or raise TooManyInFlight (a 429) when all are held."""
    most = limit()
    holder = secrets.token_hex(16)
    # Starting at a random slot spreads racing calls over the rows instead of queueing them.
    start = secrets.randbelow(most)
    numbers = [(start + step) % most for step in range(most)]
    number = _take(key, numbers, holder)
    if number is None:
        existing = ProxySlot.objects.filter(key=key, number__lt=most).count()
        if existing < most:
            # First use of the key (or a raised limit): make its rows, then try once more.
            ProxySlot.objects.bulk_create(
                [ProxySlot(key=key, number=n) for n in range(most)], ignore_conflicts=True
            )
            number = _take(key, numbers, holder)
    if number is None:
        raise TooManyInFlight(most)
    now = timezone.now()
    return Slot(key_id=key.pk, number=number, holder=holder, renew_after=now + LEASE / 2)
