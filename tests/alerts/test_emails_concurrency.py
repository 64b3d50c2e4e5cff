"""Two workers sending one alert at once send it once (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from alerts import lapse, services
from alerts.models import LapseWarning, NoticeState, Notification
from connections.models import Source, Status
from connections.status import connection_status_set
from connections.tokens import token_digest
from connections.upkeep import REFRESH_TOKEN_LIFETIME

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        db_connection.vendor != "postgresql",
        reason="needs PostgreSQL: the in-memory SQLite test database locks whole tables",
    ),
]


def test_two_workers_racing_on_one_transition_send_one_email(smtp_server, token_connection):
    connection_status_set(
        connection=token_connection, status=Status.ONLINE, reason="ok", source=Source.WORKER
    )
    transition = connection_status_set(
        connection=token_connection, status=Status.OFFLINE, reason="Refused.", source=Source.WORKER
    )
    assert transition is not None
    Notification.objects.all().delete()  # whatever the after-commit dispatch did: start clean
    smtp_server.messages.clear()
    smtp_server.envelopes.clear()
    smtp_server.delay = 0.3  # both workers are inside the send window together

    sent = race(lambda: services.transition_notify(transition_id=transition.pk))

    assert sorted(sent) == [0, 1]
    assert len(smtp_server.messages) == 1
    assert Notification.objects.get().state == NoticeState.SENT


def test_two_workers_racing_on_one_lapse_warning_send_one_email(smtp_server, oauth_connection):
    oauth_connection.refresh_token = "rt-SECRET"
    oauth_connection.refresh_token_digest = token_digest("rt-SECRET")
    oauth_connection.authorized_at = timezone.now() - REFRESH_TOKEN_LIFETIME + timedelta(days=10)
    oauth_connection.status = Status.ONLINE
    oauth_connection.save()
    smtp_server.delay = 0.3

    sent = race(lapse.grants_lapse_warn)

    assert sorted(sent) == [0, 1]
    assert len(smtp_server.messages) == 1
    assert LapseWarning.objects.get().state == NoticeState.SENT


def race(work: Callable[[], int]) -> list[int]:
    """Run ``work`` in two threads (two database connections) started together; their results."""
    start = threading.Barrier(2)
    results: list[int] = []

    def worker() -> None:
        try:
            start.wait()
            results.append(work())
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
