"""Bookkeeping written on every proxied call lives in unlogged tables on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection

from api.models import ApiKey, ProxySlot
from connections.models import Connection, RateBudget

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite has no unlogged tables"
)
def test_only_the_bookkeeping_tables_skip_the_write_ahead_log():
    tables = [model._meta.db_table for model in (RateBudget, ProxySlot, Connection, ApiKey)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, relpersistence FROM pg_class WHERE relname = ANY(%s)", [tables]
        )
        persistence = dict(cursor.fetchall())
    assert persistence == {
        RateBudget._meta.db_table: "u",
        ProxySlot._meta.db_table: "u",
        # Connections and keys hold what must survive a crash.
        Connection._meta.db_table: "p",
        ApiKey._meta.db_table: "p",
    }
