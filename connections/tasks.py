"""Worker tasks for connections: each takes ids, calls services, and declares its retries.

The periodic ones (``check_due``, ``refresh_due``, ``history_prune_old``, ``heartbeat``) run on
the schedules stored in django-celery-beat's tables (``connections.schedules``), which operators
edit in the admin.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from connections import upkeep
from connections.checking import connections_check
from connections.front_types import FrontError
from connections.history import history_prune
from connections.keys import encryption_key_refuses
from connections.models import Connection, Source
from connections.services import RefreshBusy, connection_refresh

logger = logging.getLogger(__name__)

# How long one check_due run may wait for a company's budget; what does not fit stays due.
CHECK_PATIENCE = 60.0
# Refreshes found due in one run are spread over this many seconds.
REFRESH_SPREAD_SECONDS = 120


class CheckNotDone(Exception):
    """Front could not be asked (rate limit, outage, timeout): the task retries with backoff."""


class RefreshNotDone(Exception):
    """The refresh met a transient failure: the task retries with backoff."""


@shared_task(
    autoretry_for=(CheckNotDone,),
    retry_backoff=60,
    retry_backoff_max=3600,
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
        raise CheckNotDone(result.result)
    return str(result.status)


@shared_task
def check_due() -> int:
    """Periodic: check the connections whose check is due, concurrently within the budgets."""
    report = connections_check(
        upkeep.connections_due_check(),
        concurrency=int(settings.FRONTCONNECT_CHECK_CONCURRENCY),
        source=Source.WORKER,
        patience=CHECK_PATIENCE,
    )
    # Deferred ones stay due for the next run; ones Front could not answer retry with backoff.
    for result in report.results:
        if result.checked and result.retryable:
            countdown = 60 + upkeep.spread(result.connection_id, timedelta(seconds=60)).seconds
            check_connection.apply_async((result.connection_id,), countdown=countdown)
    return len(report.results) - report.deferred


@shared_task(
    autoretry_for=(RefreshNotDone,),
    retry_backoff=30,
    retry_backoff_max=1800,
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
    """Periodic: queue a refresh for each connection due one, spread out over two minutes."""
    due = upkeep.connections_due_refresh()
    span = timedelta(seconds=REFRESH_SPREAD_SECONDS)
    for pk in due:
        refresh_connection.apply_async((pk,), countdown=upkeep.spread(pk, span).seconds)
    return len(due)


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
