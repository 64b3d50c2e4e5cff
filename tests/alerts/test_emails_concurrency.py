"""Two workers sending one transition's alert at once send it once (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection as db_connection

from alerts import services
from alerts.models import NoticeState, Notification
from connections.models import Source, Status
from connections.status import connection_status_set

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
    start = threading.Barrier(2)
    sent: list[int] = []

    def worker() -> None:
        try:
            start.wait()
            sent.append(services.transition_notify(transition_id=transition.pk))
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(sent) == [0, 1]
    assert len(smtp_server.messages) == 1
    assert Notification.objects.get().state == NoticeState.SENT
