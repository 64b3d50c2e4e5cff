"""Migration 0015: Token rows left Not authorized become Not checked yet, with a transition."""

from __future__ import annotations

import pytest

from tests.connections.test_migration_name_key import executor_leaf, migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("connections", "0014_unchecked_status")]
AFTER = [("connections", "0015_token_rows_unchecked")]


def test_token_rows_not_authorized_become_not_checked_yet():
    old = migrate(BEFORE)
    user = old.get_model("auth", "User").objects.create(username="alice")
    Connection = old.get_model("connections", "Connection")
    for name, auth_type, status in [
        ("Token never checked", "token", "not_authorized"),
        ("Token online", "token", "online"),
        ("OAuth without a grant", "oauth2", "not_authorized"),
    ]:
        Connection.objects.create(
            name=name, name_key=name.lower(), company_name="x", owner=user,
            auth_type=auth_type, status=status,
        )  # fmt: skip
    try:
        new = migrate(AFTER)
        rows = new.get_model("connections", "Connection").objects.order_by("pk")
        assert [(r.name, r.status) for r in rows] == [
            ("Token never checked", "unchecked"),
            ("Token online", "online"),
            ("OAuth without a grant", "not_authorized"),
        ]
        transitions = new.get_model("connections", "Transition").objects.all()
        assert [(t.connection_name, t.old_status, t.new_status, t.source) for t in transitions] == [
            ("Token never checked", "not_authorized", "unchecked", "system")
        ]
    finally:
        migrate(executor_leaf())
