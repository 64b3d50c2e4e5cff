"""Pooled PostgreSQL connections are checked on checkout without a round trip."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from common.postgresql.base import DatabaseWrapper

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL: the pool is PostgreSQL's"
    ),
]


@pytest.fixture
def pooled() -> Iterator[DatabaseWrapper]:
    """A second database alias on the test database, with a pool as production has."""
    settings_dict = {
        **connection.settings_dict,
        "ENGINE": "common.postgresql",
        "OPTIONS": {"pool": {"min_size": 1, "max_size": 1, "timeout": 5}},
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
    }
    wrapper = DatabaseWrapper(settings_dict, alias="pool_under_test")
    yield wrapper
    wrapper.close()
    wrapper.close_pool()


def backend_pid(wrapper: DatabaseWrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def test_a_quiet_connection_is_handed_out_without_a_round_trip(pooled, monkeypatch):
    checks = []
    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(checks.append))
    first = backend_pid(pooled)
    pooled.close()  # back to the pool
    assert backend_pid(pooled) == first
    assert checks == []


def test_a_connection_the_server_closed_is_replaced_on_checkout(pooled):
    dead = backend_pid(pooled)
    pooled.close()
    params = {key: value for key, value in pooled.get_connection_params().items()
              if key in {"dbname", "user", "host", "port", "password"}}  # fmt: skip
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [dead])
    time.sleep(0.3)  # the server's goodbye reaches the pooled socket
    assert backend_pid(pooled) != dead  # no error: another connection was taken
