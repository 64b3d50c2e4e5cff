"""The worker's default schedules, stored in django-celery-beat's tables.

``schedules_install`` runs after every ``migrate`` and creates only the rows that are missing (by
name), so an operator's changes in the admin (interval, enabled) survive upgrades and restarts.
To stop a schedule, disable it: a deleted default comes back at the next migrate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DefaultSchedule:
    name: str
    task: str
    every: int
    period: str  # an IntervalSchedule period: "minutes", "hours", "days"
    expire_seconds: int | None = None  # drop a run that waited longer in the queue
    description: str = ""


DEFAULT_SCHEDULES = (
    DefaultSchedule(
        "Check connections that are due",
        "connections.tasks.check_due",
        5,
        "minutes",
        expire_seconds=240,
        description="Tests each connection every FRONTCONNECT_CHECK_INTERVAL_HOURS, within the "
        "Front rate budgets.",
    ),
    DefaultSchedule(
        "Refresh OAuth tokens ahead of expiry",
        "connections.tasks.refresh_due",
        5,
        "minutes",
        expire_seconds=240,
        description="Recently used connections before their access token expires; every grant "
        "daily in the last 7 days of its refresh token's life.",
    ),
    DefaultSchedule(
        "Prune old history",
        "connections.tasks.history_prune_old",
        1,
        "days",
        description="Deletes events and transitions older than "
        "FRONTCONNECT_HISTORY_RETENTION_DAYS.",
    ),
    DefaultSchedule(
        "Send alerts whose dispatch was lost",
        "alerts.tasks.transitions_redispatch",
        2,
        "minutes",
        expire_seconds=100,
        description="Queues again the emails and webhook calls of recent status changes that "
        "were never queued (the broker was down when they happened).",
    ),
    DefaultSchedule(
        "Warn owners before authorizations lapse",
        "alerts.tasks.grants_lapse_warn",
        1,
        "days",
        description="Emails the owner of each OAuth connection (and operators subscribed to all "
        "alerts) once per authorization, 14 days before its refresh token's 6 months run out.",
    ),
    DefaultSchedule(
        "Announce expired authorization links",
        "alerts.tasks.authorization_links_expired",
        5,
        "minutes",
        expire_seconds=240,
        description="Sends the webhook event connection.authorization_link.expired once for "
        "each authorization link that expired unused.",
    ),
    DefaultSchedule(
        "Worker heartbeat",
        "connections.tasks.heartbeat",
        1,
        "minutes",
        expire_seconds=50,
        description="/healthz reports the worker as ok while this runs.",
    ),
)


def schedules_install(**kwargs: Any) -> int:
    """Create the default periodic tasks that do not exist yet; return how many were created."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    created = 0
    for default in DEFAULT_SCHEDULES:
        if PeriodicTask.objects.filter(name=default.name).exists():
            continue
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=default.every, period=default.period
        )
        PeriodicTask.objects.create(
            name=default.name,
            task=default.task,
            interval=interval,
            expire_seconds=default.expire_seconds,
            description=default.description,
        )
        created += 1
    return created
