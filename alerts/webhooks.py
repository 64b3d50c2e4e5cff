"""Webhook calls: a signed JSON POST about one transition, logged per webhook and transition.

This is the one module that imports ``requests`` outside Front's client. It is deliberately not
``connections.front``: that client speaks to Front only (its base URL, credentials, error envelope,
rate budget and the never-send-a-code-twice retry rule), whereas a webhook goes to an operator's own
URL with no credential and is retried by the Celery task, never by the HTTP client.

Where a call may go is ``alerts.destinations``' rule: a public https address, resolved once and
connected to as checked. The delivery log records fixed sentences ("could not connect", "refused:
not a public address"), never an exception's text, so it cannot be read as a port scan. After
``FRONTCONNECT_WEBHOOK_PAUSE_AFTER`` failed calls in a row the webhook is paused: its pending
calls are recorded as skipped and none is made until an operator resumes it.

Signature: ``X-FrontConnect-Signature: sha256=<hex>``, an HMAC-SHA256 with the webhook's secret over
``<timestamp>.<raw body>``, where the timestamp (Unix seconds) is sent in
``X-FrontConnect-Timestamp``; a receiver recomputes it and refuses old timestamps to stop replays.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from alerts.destinations import (
    REFUSED_NOT_PUBLIC,
    REFUSED_URL,
    DestinationRefused,
    PinnedAddressAdapter,
    destination_resolve,
)
from alerts.models import Webhook, WebhookDelivery
from common import metrics
from connections.models import Status, Transition

logger = logging.getLogger(__name__)

# A receiver that does not accept the connection at once is given up on quickly: calls run on
# their own worker queue, but a dead receiver should still not hold a slot for long.
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
CLAIM_SECONDS = 60
SKIPPED = "skipped: the webhook is paused"
# Refusals that no retry can change: the call is logged once and not retried.
FINAL_ERRORS = (REFUSED_NOT_PUBLIC, REFUSED_URL)
SIGNATURE_HEADER = "X-FrontConnect-Signature"
TIMESTAMP_HEADER = "X-FrontConnect-Timestamp"


class WebhookDeliveryFailed(Exception):
    """A webhook call did not get a 2xx answer; the task retries it with backoff."""


def webhook_payload(transition: Transition) -> bytes:
    """The JSON body about one transition: ids, name, statuses, reason, time; never a secret."""
    data = {
        "event": "connection.status_changed",
        "transition_id": transition.pk,
        "connection": {"id": transition.connection_id, "name": transition.connection_name},
        "old_status": transition.old_status,
        "old_status_label": Status(transition.old_status).label,
        "new_status": transition.new_status,
        "new_status_label": Status(transition.new_status).label,
        "reason": transition.reason,
        "source": transition.source,
        "created_at": transition.created_at.isoformat(),
    }
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8")


def transition_webhooks(transition: Transition) -> list[int]:
    """The ids of the webhooks to call about this transition; a paused one records it skipped."""
    webhooks = Webhook.objects.filter(is_active=True).only(
        "pk", "is_active", "statuses", "paused_at"
    )
    wanted = [webhook for webhook in webhooks if webhook.wants(transition)]
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                webhook=webhook, transition=transition, skipped_at=timezone.now(), error=SKIPPED
            )
            for webhook in wanted
            if webhook.paused_at is not None
        ],
        ignore_conflicts=True,
    )
    return [webhook.pk for webhook in wanted if webhook.paused_at is None]


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body)."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, "sha256")
    return "sha256=" + digest.hexdigest()


def _post(webhook: Webhook, body: bytes, delivery_id: int) -> int:
    """POST the body; return the HTTP status, or raise RequestException / DestinationRefused."""
    url = str(webhook.url)
    destination = destination_resolve(url)  # again at send time: DNS may have changed
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "FrontConnect-Webhooks/1",
        "X-FrontConnect-Delivery": str(delivery_id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(str(webhook.secret), timestamp, body),
    }
    with requests.Session() as session:
        session.trust_env = False  # no proxy or .netrc credentials from the worker's environment
        adapter = PinnedAddressAdapter(destination)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        response = session.post(
            url,
            data=body,
            headers=headers,
            timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
            allow_redirects=False,  # a redirect could move a signed payload to another host
        )
        return response.status_code


def _failure_sentence(exc: requests.RequestException) -> str:
    """A fixed sentence for a failed call: no address, port, banner or URL from the exception."""
    if isinstance(exc, requests.ConnectTimeout):
        return "could not connect (timed out)"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    return "the call failed"


def _claim(delivery: WebhookDelivery) -> bool:
    now = timezone.now()
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery.pk, delivered_at__isnull=True, skipped_at__isnull=True
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(
            claimed_until=now + timedelta(seconds=CLAIM_SECONDS),
            attempts=F("attempts") + 1,
            last_attempt_at=now,
        )
    )


def webhook_pause_after() -> int:
    """How many failed calls in a row pause a webhook (FRONTCONNECT_WEBHOOK_PAUSE_AFTER)."""
    return int(settings.FRONTCONNECT_WEBHOOK_PAUSE_AFTER)


def _deliveries_skip(webhook_id: int) -> int:
    """Record the webhook's calls still pending as skipped; return how many."""
    skipped = WebhookDelivery.objects.filter(
        webhook_id=webhook_id, delivered_at__isnull=True, skipped_at__isnull=True
    ).update(skipped_at=timezone.now(), claimed_until=None, error=SKIPPED)
    metrics.DELIVERIES.labels("webhook", "skipped").inc(skipped)
    return skipped


def _failure_count(webhook: Webhook, error: str) -> bool:
    """Count a failed call; pause the webhook at the limit. True when it is paused now."""
    Webhook.objects.filter(pk=webhook.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    limit = webhook_pause_after()
    paused = Webhook.objects.filter(
        pk=webhook.pk, paused_at__isnull=True, consecutive_failures__gte=limit
    ).update(
        paused_at=timezone.now(),
        pause_reason=f"Paused after {limit} failed calls in a row (the last: {error}).",
    )
    if paused:
        logger.warning("Webhook %s paused after %s failed calls in a row.", webhook.pk, limit)
        _deliveries_skip(webhook.pk)
    return bool(paused) or Webhook.objects.filter(pk=webhook.pk, paused_at__isnull=False).exists()


def webhook_deliver(*, webhook_id: int, transition_id: int) -> bool:
    """Call one webhook about one transition unless done already; True once it answered 2xx.

    Raises WebhookDeliveryFailed on a failed or non-2xx call so the task retries it; a refused
    address, or a call to a paused webhook, is recorded and not retried.
    """
    webhook = Webhook.objects.filter(pk=webhook_id, is_active=True).first()
    transition = Transition.objects.filter(pk=transition_id).first()
    if webhook is None or transition is None:
        return False
    delivery, _created = WebhookDelivery.objects.get_or_create(
        webhook=webhook, transition=transition
    )
    if webhook.paused_at is not None:
        _deliveries_skip(webhook.pk)
        return False
    if delivery.delivered_at is not None or not _claim(delivery):
        return delivery.delivered_at is not None
    status: int | None = None
    error = ""
    try:
        status = _post(webhook, webhook_payload(transition), delivery.pk)
        if not 200 <= status < 300:
            error = f"HTTP {status}" + (" (redirects are not followed)" if status < 400 else "")
    except DestinationRefused as exc:
        error = str(exc)
    except requests.RequestException as exc:
        error = _failure_sentence(exc)
    done = not error
    metrics.DELIVERIES.labels("webhook", "sent" if done else "failed").inc()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        http_status=status,
        error=error[:200],
        claimed_until=None,
        delivered_at=timezone.now() if done else None,
    )
    if done:
        Webhook.objects.filter(pk=webhook.pk, consecutive_failures__gt=0).update(
            consecutive_failures=0
        )
        return True
    logger.warning("Webhook %s delivery %s failed: %s", webhook.pk, delivery.pk, error)
    paused = _failure_count(webhook, error)
    if paused or error in FINAL_ERRORS:
        return False
    raise WebhookDeliveryFailed(error)


def webhook_resume(*, webhook: Webhook) -> Webhook:
    """Resume a paused webhook: new transitions are called again; skipped calls stay skipped."""
    Webhook.objects.filter(pk=webhook.pk).update(
        paused_at=None, pause_reason="", consecutive_failures=0
    )
    webhook.refresh_from_db(fields=["paused_at", "pause_reason", "consecutive_failures"])
    return webhook
