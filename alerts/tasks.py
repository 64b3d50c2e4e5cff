"""Worker tasks for alerts: each takes ids, calls one service, and declares its retries.

The functions that queue them (``transition_dispatch``, ``transitions_requeue``) live here too,
so the services never import the tasks: alerts' modules import downwards only. The emails and
webhook calls go to their own queue (``CELERY_TASK_ROUTES`` in settings).
"""

from __future__ import annotations

from datetime import datetime
from smtplib import SMTPException

from celery import shared_task
from django.utils import timezone

from alerts import lapse, services, webhooks
from common.broker import task_dispatch
from connections.lifecycle import LifecycleEvent
from connections.links import links_expired_announce
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
def webhook_deliver(webhook_id: int, event_id: int) -> bool:
    """Call one webhook about one event until it answers 2xx (or retries run out)."""
    return webhooks.webhook_deliver(webhook_id=webhook_id, event_id=event_id)


@shared_task
def transitions_redispatch() -> int:
    """Periodic: queue the alerts and webhook calls that were never queued (broker down)."""
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
    event, webhook_ids = webhooks.transition_webhooks(transition)
    for webhook_id in webhook_ids:
        task_dispatch(webhook_deliver, webhook_id, event.pk)  # type: ignore[union-attr]


def lifecycle_dispatch(occurred: list[LifecycleEvent]) -> None:
    """Queue the webhook calls lifecycle events ask for; runs after their commit.

    The delivery rows are written first, so a broker that refuses leaves rows the sweep finds.
    """
    events = webhooks.lifecycle_events_record(occurred)
    for webhook_id, event_id in webhooks.lifecycle_deliveries_create(events):
        task_dispatch(webhook_deliver, webhook_id, event_id)


@shared_task
def authorization_links_expired() -> int:
    """Periodic: announce authorization links that expired unused (a webhook event each)."""
    return links_expired_announce()


def transitions_requeue(*, now: datetime | None = None) -> int:
    """Queue again what ``services.transitions_undispatched`` finds; return how many were queued."""
    emails, calls = services.transitions_undispatched(now=now)
    queued = sum(task_dispatch(transition_notify, transition_id) for transition_id in emails)
    for webhook_id, transition_id in calls:
        transition = Transition.objects.get(pk=transition_id)
        queued += task_dispatch(
            webhook_deliver, webhook_id, webhooks.transition_event(transition).pk
        )
    now = now or timezone.now()
    lost = webhooks.deliveries_unattempted(
        since=now - services.REDISPATCH_WINDOW, until=now - services.REDISPATCH_GRACE
    )
    queued += sum(
        task_dispatch(webhook_deliver, webhook_id, event_id) for webhook_id, event_id in lost
    )
    return queued
