"""Issue 15 item 6: deliveries have their own queue, and a receiver that keeps failing is paused."""

from __future__ import annotations

import pytest

from alerts.models import Webhook, WebhookDelivery
from connections.models import Source, Status
from connections.status import connection_status_set
from frontconnect.celery import app as celery_app
from tests.alerts.test_webhooks import SIGNING_SECRET

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


@pytest.fixture(autouse=True)
def loopback_and_small_limit(settings):
    settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK = True
    settings.FRONTCONNECT_WEBHOOK_PAUSE_AFTER = 3


@pytest.fixture
def webhook(receiver):
    hook = Webhook(name="Pager", url=receiver.url, statuses=["offline", "online"])
    hook.secret = SIGNING_SECRET
    hook.save()
    return hook


@pytest.fixture
def change(token_connection, django_capture_on_commit_callbacks):
    """Set the connection's status (each call is one transition) and run what it queued."""

    def change(status: Status):
        with django_capture_on_commit_callbacks(execute=True):
            return connection_status_set(
                connection=token_connection, status=status, reason="x", source=Source.WORKER
            )

    return change


def queue_of(task_name: str) -> str:
    """The queue Celery's router sends a task to (what `.delay()` and beat use)."""
    return celery_app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize(
    "task",
    [
        "alerts.tasks.webhook_deliver",
        "alerts.tasks.transition_notify",
        "alerts.tasks.grants_lapse_warn",
    ],
)
def test_emails_and_webhook_calls_go_to_the_deliveries_queue(task):
    assert queue_of(task) == "deliveries"


@pytest.mark.parametrize(
    "task",
    [
        "connections.tasks.check_connection",
        "connections.tasks.heartbeat",
        "alerts.tasks.transitions_redispatch",
    ],
)
def test_checks_and_the_heartbeat_stay_on_the_default_queue(task):
    assert queue_of(task) == "celery"


def test_a_receiver_that_keeps_failing_is_paused_and_says_so(receiver, webhook, change):
    receiver.answers = [500] * 100

    change(Status.OFFLINE)

    assert len(receiver.calls) == 3  # paused at the third failure: its retries stop too
    webhook.refresh_from_db()
    assert webhook.paused_at is not None
    assert webhook.pause_reason == "Paused after 3 failed calls in a row (the last: HTTP 500)."
    delivery = WebhookDelivery.objects.get()
    assert delivery.skipped_at is not None and delivery.delivered_at is None
    assert delivery.error == "skipped: the webhook is paused"


def test_a_paused_webhook_is_not_called_and_its_transitions_are_recorded_skipped(
    receiver, webhook, change
):
    Webhook.objects.filter(pk=webhook.pk).update(paused_at="2026-01-01T00:00Z", pause_reason="x")

    change(Status.OFFLINE)
    change(Status.ONLINE)

    assert receiver.calls == []
    deliveries = WebhookDelivery.objects.all()
    assert len(deliveries) == 2
    assert all(d.skipped_at is not None and d.attempts == 0 for d in deliveries)


def test_failures_interrupted_by_a_success_do_not_pause(receiver, webhook, change):
    receiver.answers = [500, 500, 204, 500, 500, 204]

    change(Status.OFFLINE)
    change(Status.ONLINE)

    webhook.refresh_from_db()
    assert webhook.paused_at is None and webhook.consecutive_failures == 0
    assert len(receiver.calls) == 6


def test_an_operator_resumes_a_paused_webhook(receiver, webhook, change, operator_client):
    receiver.answers = [500] * 3
    change(Status.OFFLINE)
    webhook.refresh_from_db()
    assert webhook.paused_at is not None

    listing = operator_client.get("/admin/alerts/webhook/?paused=yes").content.decode()
    assert "Paused after 3 failed calls in a row" in listing
    response = operator_client.post(
        "/admin/alerts/webhook/",
        {"action": "resume", "_selected_action": [webhook.pk]},
        follow=True,
    )
    assert "Resumed 1 webhook; new status changes are sent." in response.content.decode()

    webhook.refresh_from_db()
    assert webhook.paused_at is None and webhook.consecutive_failures == 0
    change(Status.ONLINE)
    assert len(receiver.calls) == 4  # called again
    assert WebhookDelivery.objects.filter(delivered_at__isnull=False).count() == 1
    # The call skipped while it was paused stays skipped: resuming does not replay it.
    assert WebhookDelivery.objects.filter(skipped_at__isnull=False).count() == 1


def test_resuming_needs_the_change_permission(webhook, client, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw-123456789", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhook"))
    client.force_login(viewer)
    Webhook.objects.filter(pk=webhook.pk).update(paused_at="2026-01-01T00:00Z", pause_reason="x")
    client.post("/admin/alerts/webhook/", {"action": "resume", "_selected_action": [webhook.pk]})
    webhook.refresh_from_db()
    assert webhook.paused_at is not None


def test_a_call_waits_3_s_for_a_connection_and_10_s_for_an_answer(
    receiver, webhook, change, monkeypatch
):
    from requests.adapters import HTTPAdapter

    timeouts = []
    send = HTTPAdapter.send

    def recording_send(self, request, **kwargs):
        timeouts.append(kwargs["timeout"])
        return send(self, request, **kwargs)

    monkeypatch.setattr(HTTPAdapter, "send", recording_send)
    change(Status.OFFLINE)
    assert timeouts == [(3, 10)]
