"""Concurrent callers of connection_access_token cause exactly one refresh (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.db import connections
from django.utils import timezone

from connections import services
from connections.models import Action, Connection, Event, Status

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        db_connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite ignores select_for_update, so row locks are not tested",
    ),
]


def test_ten_threads_cause_one_refresh_and_share_the_token(front_settings, oauth_connection):
    seeded = front_settings.issue()
    oauth_connection.access_token = str(seeded["access_token"])
    oauth_connection.refresh_token = str(seeded["refresh_token"])
    oauth_connection.access_token_expires_at = timezone.now() - timedelta(minutes=1)
    oauth_connection.status = Status.ONLINE
    oauth_connection.save()
    # A slow token endpoint keeps the race window open while the other threads arrive.
    front_settings.refresh_delay = 0.3
    barrier = threading.Barrier(10)
    results: list[str] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            mine = Connection.objects.get(pk=oauth_connection.pk)
            barrier.wait()
            results.append(services.connection_access_token(connection=mine))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert front_settings.refresh_count() == 1
    assert len(results) == 10 and len(set(results)) == 1
    oauth_connection.refresh_from_db()
    assert oauth_connection.access_token == results[0]
    assert oauth_connection.status == Status.ONLINE
    assert results[0] in front_settings.access_tokens
    assert Event.objects.filter(action=Action.REFRESHED, success=True).count() == 1
