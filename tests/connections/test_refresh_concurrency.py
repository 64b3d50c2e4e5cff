"""Concurrent callers of connection_access_token cause exactly one refresh (PostgreSQL).

The refresh is claimed by a lease (a conditional UPDATE); losers poll and take the stored token.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection as db_connection
from django.db import connections

from connections import services
from connections.models import Action, Connection, Event, Status

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        db_connection.vendor != "postgresql",
        reason="needs PostgreSQL: many threads writing at once on separate database connections",
    ),
]


@pytest.mark.parametrize("threads", [10, 50])
def test_concurrent_callers_cause_one_refresh_and_share_the_token(
    front_settings, expired_oauth_connection, threads
):
    oauth_connection = expired_oauth_connection
    barrier = threading.Barrier(threads)
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

    workers = [threading.Thread(target=ask) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert errors == []
    assert front_settings.refresh_count() == 1
    assert len(results) == threads and len(set(results)) == 1
    oauth_connection.refresh_from_db()
    assert oauth_connection.access_token == results[0]
    assert oauth_connection.status == Status.ONLINE
    assert results[0] in front_settings.access_tokens
    assert Event.objects.filter(action=Action.REFRESHED, success=True).count() == 1
    assert oauth_connection.refresh_lease_id == "" and oauth_connection.refresh_lease_until is None
