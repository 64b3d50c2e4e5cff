from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from django.core.exceptions import ValidationError
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from alerts import tasks, webhooks
from alerts.forms import WebhookForm
from alerts.models import Webhook, WebhookDelivery, webhook_url_validate
from connections.models import Source, Status
from connections.status import connection_status_set
from tests.conftest import API_TOKEN

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]

SIGNING_SECRET = "whsec-SECRET-3333-abcdefghijklmnop"


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    """The receivers here listen on 127.0.0.1: allowed only under the development setting."""
    settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK = True


@pytest.fixture
def webhook(receiver):
    hook = Webhook(name="Ops pager", url=receiver.url)
    hook.secret = SIGNING_SECRET
    hook.save()
    return hook


def verify(headers: dict[str, str], body: bytes, secret: str = SIGNING_SECRET) -> bool:
    """What a receiver does with the Standard Webhooks spec alone (no library): recompute the
    HMAC-SHA256 of ``id.timestamp.body``, compare with a ``v1,`` signature, check it is recent."""
    headers = {name.lower(): value for name, value in headers.items()}
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    key = secret.encode()
    if secret.startswith("whsec_"):
        key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    fresh = abs(time.time() - int(timestamp)) < 300
    offered = [part.split(",", 1) for part in headers["webhook-signature"].split(" ")]
    return fresh and any(
        version == "v1" and hmac.compare_digest(expected, signature)
        for version, signature in offered
    )


def verify_with_library(headers: dict[str, str], body: bytes, secret: str) -> dict:
    """The published verifier (the ``standardwebhooks`` package), as the README shows it."""
    key = secret if secret.startswith("whsec_") else secret.encode()
    return StandardWebhook(key).verify(body, headers)


def test_a_transition_posts_signed_json_without_secrets(
    receiver, webhook, go_offline, token_connection
):
    transition = go_offline()

    ((headers, body),) = receiver.calls
    assert headers["Content-Type"] == "application/json"
    assert verify(headers, body)
    assert verify_with_library(headers, body, SIGNING_SECRET)["type"] == (
        "connection.status_changed"
    )
    with pytest.raises(WebhookVerificationError):
        verify_with_library(headers, body.replace(b"Offline", b"Online!"), SIGNING_SECRET)
    assert not verify(headers, body, secret="another-secret-of-enough-length")
    assert not verify(headers, body.replace(b"Offline", b"Online!"))
    envelope = json.loads(body)
    assert envelope["type"] == "connection.status_changed"
    assert headers["webhook-id"] == WebhookDelivery.objects.get().event.msg_id
    data = envelope["data"]
    assert data["connection"] == {"id": token_connection.pk, "name": "Support inbox"}
    assert (data["old_status"], data["new_status"]) == ("unchecked", "offline")
    assert data["new_status_label"] == "Offline"
    assert data["reason"] == "Front refused the API token (HTTP 401)."
    assert data["source"] == "worker"
    assert data["transition_id"] == transition.pk
    assert API_TOKEN not in body.decode() and SIGNING_SECRET not in body.decode()
    assert SIGNING_SECRET not in json.dumps(headers)
    delivery = WebhookDelivery.objects.get()
    assert delivery.http_status == 204 and delivery.attempts == 1
    assert delivery.delivered_at is not None


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(receiver, webhook, go_offline):
    receiver.answers = [500, 503]

    go_offline()

    assert len(receiver.calls) == 3
    # Each attempt is signed afresh; the body and the webhook-id stay the same.
    assert len({body for _, body in receiver.calls}) == 1
    assert len({headers["webhook-id"] for headers, _ in receiver.calls}) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 3
    assert delivery.http_status == 204 and delivery.error == ""
    assert delivery.delivered_at is not None


def test_a_receiver_that_stays_down_is_logged_not_lost(receiver, webhook, go_offline):
    receiver.answers = [500] * 100

    go_offline()

    delivery = WebhookDelivery.objects.get()
    assert delivery.delivered_at is None
    assert delivery.attempts == tasks.webhook_deliver.max_retries + 1
    assert (delivery.http_status, delivery.error) == (500, "HTTP 500")


def test_redirects_are_not_followed(receiver, webhook, go_offline):
    receiver.answers = [302] * 100
    receiver.location = "http://127.0.0.1:1/elsewhere"

    go_offline()

    delivery = WebhookDelivery.objects.get()
    assert delivery.delivered_at is None and delivery.http_status == 302
    assert "redirects are not followed" in delivery.error
    assert len(receiver.calls) == tasks.webhook_deliver.max_retries + 1


def test_a_delivered_call_is_not_repeated(receiver, webhook, go_offline):
    transition = go_offline()

    event = transition.webhook_event
    assert webhooks.webhook_deliver(webhook_id=webhook.pk, event_id=event.pk)
    tasks.webhook_deliver.apply(args=[webhook.pk, event.pk])
    assert len(receiver.calls) == 1


def test_a_webhook_not_asking_for_the_new_status_is_not_called(receiver, webhook, go_offline):
    webhook.statuses = [Status.ONLINE]
    webhook.save()
    go_offline()
    assert receiver.calls == []


def test_an_inactive_webhook_is_not_called(receiver, webhook, go_offline):
    webhook.is_active = False
    webhook.save()
    go_offline()
    assert receiver.calls == [] and not WebhookDelivery.objects.exists()


def test_a_refused_connection_is_retried(webhook, go_offline):
    webhook.url = "http://127.0.0.1:1/nothing-listens-here"
    webhook.save()

    go_offline()

    delivery = WebhookDelivery.objects.get()
    assert delivery.delivered_at is None and delivery.error == "could not connect"
    assert delivery.attempts == tasks.webhook_deliver.max_retries + 1


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/x", "ftp://127.0.0.1/x", "http://10.0.0.1/x", "https:///x"],
)
def test_only_https_or_loopback_http_urls_are_accepted(url):
    with pytest.raises(ValidationError):
        webhook_url_validate(url)


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x", "http://127.0.0.1:8080/x", "http://localhost/x"]
)
def test_https_and_loopback_http_urls_pass(url):
    webhook_url_validate(url)


def test_a_url_refused_at_send_time_is_logged_and_not_retried(receiver, webhook, go_offline):
    Webhook.objects.filter(pk=webhook.pk).update(url="http://hooks.example.com/x")

    go_offline()

    delivery = WebhookDelivery.objects.get()
    assert (
        delivery.attempts == 1 and delivery.error == "refused: the URL is not allowed for webhooks"
    )


def test_the_form_needs_a_secret_on_add_and_keeps_it_when_blank_on_edit(webhook):
    data = {
        "name": "Pager",
        "url": "https://hooks.example.com/x",
        "events": ["connection.status_changed"],
        "statuses": ["offline"],
    }
    form = WebhookForm(data=data)
    assert not form.is_valid() and "signing_secret" in form.errors

    edit = WebhookForm(data={**data, "is_active": "on"}, instance=webhook)
    assert edit.is_valid(), edit.errors
    edit.save()
    webhook.refresh_from_db()
    assert str(webhook.secret) == SIGNING_SECRET
    assert webhook.statuses == ["offline"]


def test_the_task_declares_its_retries():
    task = tasks.webhook_deliver
    assert task.max_retries and task.retry_backoff
    assert webhooks.WebhookDeliveryFailed in task.autoretry_for
    assert webhooks.CONNECT_TIMEOUT_SECONDS <= 3 and webhooks.READ_TIMEOUT_SECONDS <= 10


def test_the_sweep_queues_a_lost_webhook_call_once(receiver, webhook, token_connection):
    from datetime import timedelta

    transition = connection_status_set(
        connection=token_connection, status=Status.OFFLINE, reason="x", source=Source.WORKER
    )
    assert transition is not None
    later = transition.created_at + timedelta(minutes=10)

    # One email (the owner) and one webhook call were never queued.
    assert tasks.transitions_requeue(now=later) == 2
    assert tasks.transitions_requeue(now=later) == 0
    assert len(receiver.calls) == 1
