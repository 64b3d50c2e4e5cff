"""One scheduler at a time: the lock that celery beat must hold to send the periodic tasks.

Two schedulers (an orphaned ``--beat`` child of a killed worker beside the restarted one, or a
beat started on two hosts) would send every periodic task twice. The scheduler
(``LockedDatabaseScheduler``, django-celery-beat's ``DatabaseScheduler`` plus this lock) renews a
lease on one ``SchedulerLock`` row every few seconds and sends nothing while another holder's
lease is live; the refused one logs one sentence, waits, and takes over when the other stops
renewing. Every lease is judged by the database clock (``Now()``), never a host's own clock.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta
from typing import Any

from django.db import DatabaseError
from django.db.models import Case, DateTimeField, ExpressionWrapper, F, Q, Value, When
from django.db.models.functions import Now
from django_celery_beat.schedulers import DatabaseScheduler

from common.broker import OK
from connections.models import SchedulerLock
from connections.wording import Said, said

logger = logging.getLogger(__name__)

LOCK_NAME = "beat"
# The holder renews every RENEW_SECONDS; a holder silent for LEASE_SECONDS has stopped.
LEASE_SECONDS = 30
RENEW_SECONDS = 5


def scheduler_identity() -> str:
    """How this scheduler is named in the lock, the logs and /healthz."""
    return f"beat on {socket.gethostname()} (pid {os.getpid()})"


def _lease_end() -> ExpressionWrapper:
    return ExpressionWrapper(Now() + timedelta(seconds=LEASE_SECONDS), output_field=DateTimeField())


def scheduler_lock_take(holder: str) -> bool:
    """Take or renew the lock for ``holder``; False while another holds it (noted as contender)."""
    SchedulerLock.objects.get_or_create(name=LOCK_NAME)
    free = Q(holder=holder) | Q(lease_until__isnull=True) | Q(lease_until__lt=Now())
    taken = (
        SchedulerLock.objects.filter(name=LOCK_NAME)
        .filter(free)
        .update(
            holder=holder,
            lease_until=_lease_end(),
            held_since=Case(When(holder=holder, then=F("held_since")), default=Now()),
            contender=Case(When(contender=holder, then=Value("")), default=F("contender")),
        )
    )
    if taken:
        return True
    SchedulerLock.objects.filter(name=LOCK_NAME).update(
        contender=holder, contender_until=_lease_end()
    )
    return False


def scheduler_lock_release(holder: str) -> None:
    """Give the lock up at once (a scheduler stopping cleanly), so a waiting one takes over."""
    SchedulerLock.objects.filter(name=LOCK_NAME, holder=holder).update(holder="", lease_until=None)


def scheduler_state() -> str | Said:
    """``ok`` when exactly one scheduler holds a live lease, else one sentence (for /healthz)."""
    live = Case(When(lease_until__gt=Now(), then=Value(True)), default=Value(False))
    contending = Case(When(contender_until__gt=Now(), then=Value(True)), default=Value(False))
    row = (
        SchedulerLock.objects.filter(name=LOCK_NAME)
        .annotate(live=live, contending=contending)
        .values("holder", "live", "contender", "contending")
        .first()
    )
    if row is None or not row["live"] or not row["holder"]:
        return said("health.no_scheduler")
    if row["contending"] and row["contender"] and row["contender"] != row["holder"]:
        return said("health.two_schedulers", holder=row["holder"], contender=row["contender"])
    return OK


class LockedDatabaseScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler that ticks only while it holds the scheduler lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.identity = scheduler_identity()
        self.holding = False
        self.refused_logged = False
        self.checked_at: float | None = None
        super().__init__(*args, **kwargs)

    def lock_holds(self) -> bool:
        """Whether this scheduler holds the lock, renewing it every RENEW_SECONDS."""
        moment = time.monotonic()
        if self.holding and self.checked_at is not None:
            if moment - self.checked_at < RENEW_SECONDS:
                return True
        try:
            holds = scheduler_lock_take(self.identity)
        except DatabaseError as exc:
            # Without the database no lease can be proven: send nothing until it is back.
            logger.warning("The scheduler cannot reach the database (%s).", type(exc).__name__)
            holds = False
        self.checked_at = moment
        if holds and not self.holding:
            logger.info("%s holds the scheduler lock and sends the periodic tasks.", self.identity)
            if self.refused_logged:
                # Another scheduler sent the tasks meanwhile: read their last runs again.
                self._initial_read = True
                self._heap = None
            self.refused_logged = False
        elif not holds and not self.refused_logged:
            logger.warning(
                "Another scheduler holds the lock, so %s sends nothing and waits to take over "
                "if that one stops.",
                self.identity,
            )
            self.refused_logged = True
        self.holding = holds
        return holds

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.lock_holds():
            return float(RENEW_SECONDS)
        return float(min(super().tick(*args, **kwargs), RENEW_SECONDS))

    def reserve(self, entry: Any) -> Any:
        """Mark ``entry`` as sent now, on the entry the schedule holds as well as the next one.

        django-celery-beat updates only the entry's model; when the schedule is read again
        before the next write (another scheduler's start changed it), the heap is rebuilt from
        entries that still show the old last run and the task that was just sent is sent again.
        """
        new_entry = super().reserve(entry)
        entry.last_run_at = new_entry.last_run_at
        return new_entry

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.holding:
                try:
                    scheduler_lock_release(self.identity)
                except DatabaseError:
                    pass  # the lease runs out by itself
                self.holding = False
