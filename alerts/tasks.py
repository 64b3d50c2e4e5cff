"""Worker tasks for alerts: each takes ids, calls one service, and declares its retries."""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task

from alerts import lapse, services, webhooks


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
    return services.transitions_redispatch()


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
