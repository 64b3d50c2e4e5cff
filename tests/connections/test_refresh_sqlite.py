"""On SQLite (the `make run` default) a slow token endpoint does not lock the database."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.db import connections
from django.utils import timezone

from connections import services
from connections.models import Connection, Scope, Status

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(db_connection.vendor != "sqlite", reason="about SQLite's database lock"),
]


def test_a_slow_refresh_does_not_make_an_unrelated_write_fail(front_settings, oauth_connection):
    seeded = front_settings.issue()
    oauth_connection.access_token = str(seeded["access_token"])
    oauth_connection.refresh_token = str(seeded["refresh_token"])
    oauth_connection.access_token_expires_at = timezone.now() - timedelta(minutes=1)
    oauth_connection.status = Status.ONLINE
    oauth_connection.save()
    front_settings.refresh_delay = 1.5
    errors: list[BaseException] = []

    def refresh() -> None:
        try:
            services.connection_access_token(
                connection=Connection.objects.get(pk=oauth_connection.pk)
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    worker = threading.Thread(target=refresh)
    worker.start()
    deadline = time.monotonic() + 5
    while not front_settings.token_requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert front_settings.token_requests == ["refresh_token"]  # Front is being asked right now
    # An unrelated write while the token request is in flight, with a short busy timeout.
    with db_connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 500")
    Scope.objects.create(code="unrelated:write")
    worker.join(timeout=10)
    assert errors == []
    oauth_connection.refresh_from_db()
    assert oauth_connection.access_token != seeded["access_token"]
