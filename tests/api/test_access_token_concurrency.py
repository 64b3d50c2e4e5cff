"""Fifty concurrent API calls on an expired OAuth connection cause one refresh (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection as db_connection
from django.db import connections
from rest_framework.test import APIClient

from api.models import ApiKeyUsage
from connections.models import Connection

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        db_connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite ignores row locks, so the race is not tested",
    ),
]

CALLERS = 50


def test_fifty_calls_cause_one_refresh_and_get_the_same_token(
    front_settings, expired_oauth_connection, full_key
):
    oauth_connection = expired_oauth_connection
    barrier = threading.Barrier(CALLERS)
    tokens: list[str] = []
    failures: list[object] = []

    def call() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key.plaintext}")
        try:
            barrier.wait()
            response = client.post(f"/api/v1/connections/{oauth_connection.pk}/access-token/")
            if response.status_code == 200:
                tokens.append(response.json()["access_token"])
            else:
                failures.append((response.status_code, response.content[:200]))
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert front_settings.refresh_count() == 1
    assert len(tokens) == CALLERS and len(set(tokens)) == 1
    assert tokens[0] in front_settings.access_tokens
    assert Connection.objects.get(pk=oauth_connection.pk).access_token == tokens[0]
    assert ApiKeyUsage.objects.get().count == CALLERS
