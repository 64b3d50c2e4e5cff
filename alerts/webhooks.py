"""Webhook calls: a signed JSON POST about one transition, logged per webhook and transition.

This is the one module that imports ``requests`` outside Front's client. It is deliberately not
``connections.front``: that client speaks to Front only (its base URL, credentials, error envelope,
rate budget and the never-send-a-code-twice retry rule), whereas a webhook goes to an operator's own
URL with no credential and is retried by the Celery task, never by the HTTP client.

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
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.utils import timezone

from alerts.models import Webhook, WebhookDelivery, webhook_url_validate
from connections.models import Status, Transition

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
CLAIM_SECONDS = 60
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
    """The ids of the active webhooks that asked to hear about this transition."""
    webhooks = Webhook.objects.filter(is_active=True).only("pk", "is_active", "statuses")
    return [webhook.pk for webhook in webhooks if webhook.wants(transition)]


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body)."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, "sha256")
    return "sha256=" + digest.hexdigest()


def _post(webhook: Webhook, body: bytes, delivery_id: int) -> int:
    """POST the body; return the HTTP status, or raise RequestException / ValidationError."""
    webhook_url_validate(webhook.url)  # again at send time: rows may predate the rule
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
        response = session.post(
            webhook.url,
            data=body,
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,  # a redirect could move a signed payload to another host
        )
        return response.status_code


def _claim(delivery: WebhookDelivery) -> bool:
    now = timezone.now()
    return bool(
        WebhookDelivery.objects.filter(pk=delivery.pk, delivered_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(
            claimed_until=now + timedelta(seconds=CLAIM_SECONDS),
            attempts=F("attempts") + 1,
            last_attempt_at=now,
        )
    )


def webhook_deliver(*, webhook_id: int, transition_id: int) -> bool:
    """Call one webhook about one transition unless done already; True once it answered 2xx.

    Raises WebhookDeliveryFailed on a refused, failed or non-2xx call so the task retries it.
    """
    webhook = Webhook.objects.filter(pk=webhook_id, is_active=True).first()
    transition = Transition.objects.filter(pk=transition_id).first()
    if webhook is None or transition is None:
        return False
    delivery, _created = WebhookDelivery.objects.get_or_create(
        webhook=webhook, transition=transition
    )
    if delivery.delivered_at is not None or not _claim(delivery):
        return delivery.delivered_at is not None
    status: int | None = None
    error = ""
    try:
        status = _post(webhook, webhook_payload(transition), delivery.pk)
        if not 200 <= status < 300:
            error = f"HTTP {status}" + (" (redirects are not followed)" if status < 400 else "")
    except ValidationError as exc:
        # A URL the rules refuse will not improve by retrying: log it and stop.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            error="; ".join(exc.messages)[:200], claimed_until=None
        )
        return False
    except requests.RequestException as exc:
        # The exception's text can repeat the URL, which may carry a token: keep the kind only.
        error = type(exc).__name__
    done = not error
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        http_status=status,
        error=error[:200],
        claimed_until=None,
        delivered_at=timezone.now() if done else None,
    )
    if not done:
        logger.warning("Webhook %s delivery %s failed: %s", webhook.pk, delivery.pk, error)
        raise WebhookDeliveryFailed(error)
    return True
