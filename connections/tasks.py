"""Worker tasks for connections: each takes ids, calls services, and declares its retries.

The periodic ones (``check_due``, ``refresh_due``, ``history_prune_old``, ``heartbeat``) run on
the schedules stored in django-celery-beat's tables (``connections.schedules``), which operators
edit in the admin. The periodic scans find their work in the database each time, so a message
the broker lost (restarted empty, a killed worker) is found again by the next scan; tasks are
queued through ``common.broker.task_dispatch``, which logs one line when the broker is down.
Tasks for one connection are idempotent (claims and leases), so they are acknowledged late: a
worker killed while running one leaves it to another worker.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db.models import QuerySet

from common.broker import task_dispatch
from connections import upkeep
from connections.checking import connections_check
from connections.front_types import FrontError
from connections.history import history_prune
from connections.keys import encryption_key_refuses
from connections.models import Connection, Source, Status
from connections.services import RefreshBusy, connection_refresh

logger = logging.getLogger(__name__)

# How long one check_due run may wait for a company's budget; what does not fit stays due.
CHECK_PATIENCE = 60.0
# Connections per queued message of Not-checked-yet credentials (an import queues thousands).
CHECK_MESSAGE_SIZE = 500


class CheckNotDone(Exception):
    """Front could not be asked (rate limit, outage, timeout): the task retries with backoff."""


class RefreshNotDone(Exception):
    """The refresh met a transient failure: the task retries with backoff."""


@shared_task(
    acks_late=True,
    autoretry_for=(CheckNotDone,),
    retry_backoff=60,
    retry_backoff_max=240,  # below the broker's visibility timeout (settings)
    retry_jitter=True,
    max_retries=6,
)
def check_connection(connection_id: int) -> str:
    """Check one connection within its budget; retried while Front cannot be asked."""
    report = connections_check([connection_id], concurrency=1, source=Source.WORKER)
    if not report.results:
        return "gone"
    result = report.results[0]
    if not result.checked or result.retryable:
        raise CheckNotDone(result.result.english())
    return str(result.status)


def _check_many(selection: QuerySet[Connection] | list[int]) -> int:
    """Check connections concurrently within the budgets; return how many were checked."""
    report = connections_check(
        selection,
        concurrency=int(settings.FRONTCONNECT_CHECK_CONCURRENCY),
        source=Source.WORKER,
        patience=CHECK_PATIENCE,
    )
    # Deferred ones stay due for the next run; ones Front could not answer retry with backoff.
    for result in report.results:
        if result.checked and result.retryable:
            countdown = 60 + upkeep.spread(result.connection_id, timedelta(seconds=60)).seconds
            task_dispatch(check_connection, result.connection_id, countdown=countdown)
    return len(report.results) - report.deferred


@shared_task
def check_due() -> int:
    """Periodic: check the due connections this run could claim, concurrently within budgets.

    An overlapping run (a run longer than its schedule, a second scheduler) claims none of the
    connections this one holds, so each is checked once.
    """
    claim = secrets.token_hex(16)
    try:
        return _check_many(upkeep.connections_claim_due_check(claim))
    finally:
        upkeep.connections_release_check_claim(claim)


@shared_task
def check_unchecked(connection_ids: list[int]) -> int:
    """Check saved credentials that are still Not checked yet (queued on commit by the rules).

    A connection checked meanwhile (the form tests right away) is skipped. What the budget
    defers stays Not checked yet and due (its last check was cleared), so ``check_due`` finds
    it again from the database even if this message is lost.
    """
    unchecked = Connection.objects.filter(pk__in=connection_ids, status=Status.UNCHECKED)
    return _check_many(unchecked.order_by("pk"))


def connections_check_queue(connection_ids: Sequence[int]) -> None:
    """Ask the worker to check these Not-checked-yet connections, in messages of a few hundred.

    Sending never fails the caller (its change is committed): a broker that cannot be reached
    is one line in the log, and ``check_due`` checks them on its next run instead.
    """
    ids = list(connection_ids)
    for start in range(0, len(ids), CHECK_MESSAGE_SIZE):
        if not task_dispatch(check_unchecked, ids[start : start + CHECK_MESSAGE_SIZE]):
            return


@shared_task(
    acks_late=True,
    autoretry_for=(RefreshNotDone,),
    retry_backoff=30,
    retry_backoff_max=240,  # below the broker's visibility timeout (settings)
    retry_jitter=True,
    max_retries=5,
)
def refresh_connection(connection_id: int) -> bool:
    """Refresh one connection's tokens if still due; True when this call got new tokens.

    The lease in ``connections.tokens`` makes one refresh per expiry across workers and hosts:
    a worker that finds the lease taken, or the tokens renewed since it read them, does nothing.
    """
    connection = Connection.objects.select_related("oauth_client").filter(pk=connection_id).first()
    if connection is None or not upkeep.connection_refresh_due(connection):
        return False
    try:
        return connection_refresh(connection=connection, source=Source.WORKER, wait=False)
    except RefreshBusy:
        return False
    except FrontError as exc:
        if exc.is_transient:
            raise RefreshNotDone(str(exc)) from None
        return False  # recorded in the history (and through the status door) by the service


@shared_task
def refresh_due() -> int:
    """Periodic: queue a refresh now for each connection due one; how many were queued.

    No countdowns: a message held for later is lost if the broker restarts empty, while what is
    still due is simply found again by the next scan. Queuing one twice is harmless (the task
    does nothing once the tokens are renewed, and the lease allows one refresh at a time), and
    the per-company rate budget paces the calls to Front.
    """
    return sum(task_dispatch(refresh_connection, pk) for pk in upkeep.connections_due_refresh())


@shared_task
def history_prune_old() -> int:
    """Periodic: delete history older than FRONTCONNECT_HISTORY_RETENTION_DAYS."""
    days = int(settings.FRONTCONNECT_HISTORY_RETENTION_DAYS)
    report = history_prune(older_than=timedelta(days=days))
    return report.events + report.transitions


@shared_task
def heartbeat() -> None:
    """Periodic (every minute): prove to /healthz that a worker runs tasks."""
    upkeep.heartbeat_record()


@worker_ready.connect
def heartbeat_at_start(**kwargs: object) -> None:
    """A worker that just started is alive: /healthz need not wait for the first minute.

    Unless its encryption key cannot read the database: then it says so at once, and runs no
    task until the key is fixed.
    """
    if not encryption_key_refuses(logger):
        upkeep.heartbeat_record()
