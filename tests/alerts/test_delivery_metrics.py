"""Issue 19 item 1: alert emails and webhook calls are counted by channel and result."""

from __future__ import annotations

import pytest

from alerts.models import Webhook
from common import metrics
from connections.models import Source, Status
from connections.status import connection_status_set

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


def count(channel: str, result: str) -> float:
    return metrics.DELIVERIES.labels(channel, result)._value.get()


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK = True
    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"


@pytest.fixture
def change(token_connection, django_capture_on_commit_callbacks):
    def change(status: Status) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            connection_status_set(
                connection=token_connection,
                status=status,
                reason="Front refused the API token (HTTP 401).",
                source=Source.WORKER,
            )

    return change


def test_an_alert_email_sent_is_counted(smtp_server, change):
    change(Status.ONLINE)
    before = count("email", "sent")
    change(Status.OFFLINE)
    assert len(smtp_server.messages) == 1
    assert count("email", "sent") == before + 1


def test_webhook_calls_are_counted_sent_and_failed(receiver, change):
    hook = Webhook(name="Ops pager", url=receiver.url)
    hook.secret = "whsec-metrics-SECRET-abcdefghijklmnop"
    hook.save()
    receiver.answers = [500]
    sent, failed = count("webhook", "sent"), count("webhook", "failed")
    change(Status.OFFLINE)
    assert len(receiver.calls) == 2  # refused once, then delivered on the retry
    assert count("webhook", "failed") == failed + 1
    assert count("webhook", "sent") == sent + 1
