"""Worker tasks for alerts: each takes ids, calls one service, and declares its retries.

The functions that queue them (``transition_dispatch``, ``transitions_requeue``) live here too,
so the services never import the tasks: alerts' modules import downwards only. The emails and
webhook calls go to their own queue (``CELERY_TASK_ROUTES`` in settings).
"""

from __future__ import annotations

from datetime import datetime
from smtplib import SMTPException

from celery import shared_task

from alerts import lapse, services, webhooks
from common.broker import task_dispatch
from connections.models import Transition


@shared_task(
    autoretry_for=(SMTPException, OSError, services.OutageNoticeInFlight),
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=10,
)
def transition_notify(transition_id: int) -> int:
    """Email the owner and subscribed operators about one transition (at most once each)."""
    return services.transition_notify(transition_id=transition_id)


@shared_task(
    autoretry_for=(webhooks.WebhookDeliveryFailed,),
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=10,
)
def webhook_deliver(webhook_id: int, transition_id: int) -> bool:
    """Call one webhook about one transition until it answers 2xx (or retries run out)."""
    return webhooks.webhook_deliver(webhook_id=webhook_id, transition_id=transition_id)


@shared_task
def transitions_redispatch() -> int:
    """Periodic: queue the alerts and webhook calls of recent transitions that were never queued."""
    return transitions_requeue()


@shared_task(
    autoretry_for=(SMTPException, OSError),
    retry_backoff=300,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=5,
)
def grants_lapse_warn() -> int:
    """Periodic (daily): warn the owners of grants lapsing within 14 days, once per grant."""
    return lapse.grants_lapse_warn()


def transition_dispatch(transition: Transition) -> None:
    """Queue the emails and webhook calls a transition asks for; runs after its commit.

    A broker that refuses is one logged line: the sweep (``transitions_requeue``) finds the
    transition again in the database.
    """
    if services.transition_alert_kind(transition) is not None:
        task_dispatch(transition_notify, transition.pk)
    for webhook_id in webhooks.transition_webhooks(transition):
        task_dispatch(webhook_deliver, webhook_id, transition.pk)


def transitions_requeue(*, now: datetime | None = None) -> int:
    """Queue again what ``services.transitions_undispatched`` finds; return how many were queued."""
    emails, calls = services.transitions_undispatched(now=now)
    queued = sum(task_dispatch(transition_notify, transition_id) for transition_id in emails)
    queued += sum(
        task_dispatch(webhook_deliver, webhook_id, transition_id)
        for webhook_id, transition_id in calls
    )
    return queued
