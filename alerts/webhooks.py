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

Format: Standard Webhooks (https://www.standardwebhooks.com/). The body is
``{"type": ..., "timestamp": ..., "data": {...}}``; the headers are ``webhook-id`` (the event's
``msg_id``, the same for every attempt and redelivery), ``webhook-timestamp`` (Unix seconds, of
this attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``,
computed by the ``standardwebhooks`` library. The key is the secret's bytes: a ``whsec_<base64>``
secret is base64-decoded, as its verifiers do; any other secret is used as its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone, translation
from standardwebhooks.webhooks import Webhook as StandardWebhook

from alerts.destinations import (
    REFUSED_NOT_PUBLIC,
    REFUSED_URL,
    DestinationRefused,
    PinnedAddressAdapter,
    destination_resolve,
)
from alerts.models import Webhook, WebhookDelivery, WebhookEvent
from alerts.wording import NOTHING, Said, said
from common import metrics
from connections import lifecycle
from connections.models import Status, Transition

logger = logging.getLogger(__name__)

# A receiver that does not accept the connection at once is given up on quickly: calls run on
# their own worker queue, but a dead receiver should still not hold a slot for long.
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
CLAIM_SECONDS = 60
SKIPPED = said("delivery.paused")
# Refusals that no retry can change: the call is logged once and not retried.
FINAL_ERRORS = (said(REFUSED_NOT_PUBLIC), said(REFUSED_URL))
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
WHSEC_PREFIX = "whsec_"


class WebhookDeliveryFailed(Exception):
    """A webhook call did not get a 2xx answer; the task retries it with backoff."""


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")


def transition_data(transition: Transition) -> dict[str, object]:
    """What a status change says: ids, name, statuses, reason, time; never a secret.

    Receivers are scripts: the words are English whoever caused the change, beside stable codes.
    """
    with translation.override("en"):
        return _transition_data(transition)


def _transition_data(transition: Transition) -> dict[str, object]:
    return {
        "transition_id": transition.pk,
        "connection": {"id": transition.connection_id, "name": transition.connection_name},
        "old_status": transition.old_status,
        "old_status_label": str(Status(transition.old_status).label),
        "new_status": transition.new_status,
        "new_status_label": str(Status(transition.new_status).label),
        "reason": transition.reason.english(),
        "reason_code": transition.reason.code,
        "source": transition.source,
        "created_at": transition.created_at.isoformat(),
    }


def webhook_payload(event: WebhookEvent) -> bytes:
    """The JSON body about one event, in the Standard Webhooks shape; never a secret."""
    data = transition_data(event.transition) if event.transition is not None else event.data
    return _json({"type": event.type, "timestamp": event.created_at.isoformat(), "data": data})


def msg_id_new() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def transition_event(transition: Transition) -> WebhookEvent:
    """The webhook event of a status change, made the first time it is needed."""
    event, _created = WebhookEvent.objects.get_or_create(
        transition=transition,
        defaults={
            "msg_id": msg_id_new(),
            "type": lifecycle.STATUS_CHANGED,
            "connection_id": transition.connection_id,
            "connection_name": transition.connection_name,
            "created_at": transition.created_at,
        },
    )
    return event


def lifecycle_events_record(occurred: list[lifecycle.LifecycleEvent]) -> list[WebhookEvent]:
    """Store the lifecycle events some active webhook subscribes to (one query when none does)."""
    wanted = {
        event_type
        for events in Webhook.objects.filter(is_active=True).values_list("events", flat=True)
        for event_type in events
    }
    rows = []
    for event in occurred:
        if event.type not in wanted:
            continue
        named = event.data.get("connection", {})
        # A deleted connection's event keeps its name and id in ``data`` only.
        gone = event.type == lifecycle.DELETED
        rows.append(
            WebhookEvent(
                msg_id=msg_id_new(),
                type=event.type,
                connection_id=None if gone else event.connection_id,
                connection_name=str(named.get("name", ""))[:100] if isinstance(named, dict) else "",
                data=event.data,
                created_at=event.occurred_at,
            )
        )
    return WebhookEvent.objects.bulk_create(rows, batch_size=500)


def _delivery_for(webhook: Webhook, event: WebhookEvent) -> WebhookDelivery:
    """The one delivery row of this webhook and event (a status change's older row included)."""
    if event.transition_id is not None:
        delivery, _ = WebhookDelivery.objects.get_or_create(
            webhook=webhook, transition_id=event.transition_id, defaults={"event": event}
        )
        if delivery.event_id is None:
            WebhookDelivery.objects.filter(pk=delivery.pk).update(event=event)
            delivery.event = event
        return delivery
    delivery, _ = WebhookDelivery.objects.get_or_create(webhook=webhook, event=event)
    return delivery


def event_webhooks(event: WebhookEvent) -> list[int]:
    """The ids of the webhooks to call about this event; a paused one records it skipped."""
    webhooks = Webhook.objects.filter(is_active=True)
    if event.transition is not None:
        wanted = [webhook for webhook in webhooks if webhook.wants(event.transition)]
    else:
        wanted = [webhook for webhook in webhooks if webhook.wants_type(event.type)]
    calls = []
    for webhook in wanted:
        delivery = _delivery_for(webhook, event)
        if webhook.paused_at is not None:
            WebhookDelivery.objects.filter(
                pk=delivery.pk, delivered_at__isnull=True, skipped_at__isnull=True
            ).update(skipped_at=timezone.now(), error=SKIPPED)
        else:
            calls.append(webhook.pk)
    return calls


def lifecycle_deliveries_create(events: list[WebhookEvent]) -> list[tuple[int, int]]:
    """The delivery rows of new lifecycle events, written at once: (webhook id, event id) to
    call; a paused webhook's rows are recorded skipped."""
    webhooks = list(Webhook.objects.filter(is_active=True))
    now = timezone.now()
    rows = [
        WebhookDelivery(
            webhook=webhook,
            event=event,
            skipped_at=now if webhook.paused_at is not None else None,
            error=SKIPPED if webhook.paused_at is not None else "",
        )
        for event in events
        for webhook in webhooks
        if webhook.wants_type(event.type)
    ]
    WebhookDelivery.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return [(row.webhook.pk, row.event.pk) for row in rows if row.skipped_at is None]  # type: ignore[union-attr]


def transition_webhooks(transition: Transition) -> tuple[WebhookEvent | None, list[int]]:
    """The event of a status change and the webhooks to call about it (none: no event made)."""
    if not any(webhook.wants(transition) for webhook in Webhook.objects.filter(is_active=True)):
        return None, []
    event = transition_event(transition)
    return event, event_webhooks(event)


def signing_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret: ``whsec_<base64>`` decoded, else the UTF-8 bytes."""
    if secret.startswith(WHSEC_PREFIX):
        try:
            return base64.b64decode(secret[len(WHSEC_PREFIX) :] + "==", validate=False)
        except ValueError:
            pass
    return secret.encode("utf-8")


def webhook_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>``: the Standard Webhooks signature of ``<id>.<timestamp>.<body>``."""
    signer = StandardWebhook(signing_key(secret))
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    return signer.sign(msg_id=msg_id, timestamp=when, data=body.decode("utf-8"))


def _post(webhook: Webhook, event: WebhookEvent, body: bytes) -> int:
    """POST the body; return the HTTP status, or raise RequestException / DestinationRefused."""
    url = str(webhook.url)
    destination = destination_resolve(url)  # again at send time: DNS may have changed
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "FrontConnect-Webhooks/2",
        ID_HEADER: event.msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: webhook_signature(str(webhook.secret), event.msg_id, timestamp, body),
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


def _failure_sentence(exc: requests.RequestException) -> Said:
    """A fixed sentence for a failed call: no address, port, banner or URL from the exception."""
    if isinstance(exc, requests.ConnectTimeout):
        return said("delivery.connect_timeout")
    if isinstance(exc, requests.ConnectionError):
        return said("delivery.connect_failed")
    if isinstance(exc, requests.Timeout):
        return said("delivery.no_answer")
    return said("delivery.failed")


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


def _failure_count(webhook: Webhook, error: Said) -> bool:
    """Count a failed call; pause the webhook at the limit. True when it is paused now."""
    Webhook.objects.filter(pk=webhook.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    limit = webhook_pause_after()
    paused = Webhook.objects.filter(
        pk=webhook.pk, paused_at__isnull=True, consecutive_failures__gte=limit
    ).update(
        paused_at=timezone.now(),
        pause_reason=said("webhook.paused", limit=limit, error=error),
    )
    if paused:
        logger.warning("Webhook %s paused after %s failed calls in a row.", webhook.pk, limit)
        _deliveries_skip(webhook.pk)
    return bool(paused) or Webhook.objects.filter(pk=webhook.pk, paused_at__isnull=False).exists()


def webhook_deliver(*, webhook_id: int, event_id: int) -> bool:
    """Call one webhook about one event unless done already; True once it answered 2xx.

    Raises WebhookDeliveryFailed on a failed or non-2xx call so the task retries it; a refused
    address, or a call to a paused webhook, is recorded and not retried.
    """
    webhook = Webhook.objects.filter(pk=webhook_id, is_active=True).first()
    event = WebhookEvent.objects.select_related("transition").filter(pk=event_id).first()
    if webhook is None or event is None:
        return False
    delivery = _delivery_for(webhook, event)
    if webhook.paused_at is not None:
        _deliveries_skip(webhook.pk)
        return False
    if delivery.delivered_at is not None or not _claim(delivery):
        return delivery.delivered_at is not None
    status: int | None = None
    error = NOTHING
    try:
        status = _post(webhook, event, webhook_payload(event))
        if not 200 <= status < 300:
            error = said(
                "delivery.redirect" if status < 400 else "delivery.http_status", status=status
            )
    except DestinationRefused as exc:
        error = said(exc.args[0])
    except requests.RequestException as exc:
        error = _failure_sentence(exc)
    done = not error
    metrics.DELIVERIES.labels("webhook", "sent" if done else "failed").inc()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        http_status=status,
        error=error,
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


def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookEvent | None:
    """Make a delivery due again (same webhook-id and body); None if its webhook is paused.

    The caller queues the call (``alerts.tasks.webhook_deliver``) with the event returned.
    """
    webhook = delivery.webhook
    if webhook.paused_at is not None or not webhook.is_active:
        return None
    event = delivery.event
    if event is None and delivery.transition is not None:
        event = transition_event(delivery.transition)
    if event is None:
        return None
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        event=event, delivered_at=None, skipped_at=None, claimed_until=None, error=""
    )
    return event


def deliveries_unattempted(*, since: datetime, until: datetime) -> list[tuple[int, int]]:
    """Deliveries made in this window but never tried (their queueing was lost): pairs of
    (webhook id, event id)."""
    rows = WebhookDelivery.objects.filter(
        created_at__gte=since,
        created_at__lt=until,
        attempts=0,
        event__isnull=False,
        delivered_at__isnull=True,
        skipped_at__isnull=True,
    )
    return [(w, e) for w, e in rows.values_list("webhook_id", "event_id") if e is not None]
