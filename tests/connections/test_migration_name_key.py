"""Migration 0006 fills name_key for existing rows and renames names that only now collide."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("connections", "0005_refresh_lease_and_unreachable_since"),
    ("oauthclients", "0002_client_text_validators"),
]
AFTER = [("connections", "0006_connection_name_key")]


def migrate(targets):
    executor = MigrationExecutor(db)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_existing_rows_get_their_key_and_look_alikes_are_renamed():
    old = migrate(BEFORE)
    user = old.get_model("auth", "User").objects.create(username="alice")
    other = old.get_model("auth", "User").objects.create(username="bob")
    Connection = old.get_model("connections", "Connection")
    for owner, name in [(user, "Acme"), (user, "\uff21\uff23\uff2d\uff25"), (user, "Acme\u200b"),
                        (user, "\u00c4rzte GmbH"), (other, "acme")]:  # fmt: skip
        Connection.objects.create(name=name, company_name="x", owner=owner)
    try:
        new = migrate(AFTER)
        rows = new.get_model("connections", "Connection").objects.order_by("pk")
        assert [(r.name, r.name_key) for r in rows] == [
            ("Acme", "acme"),
            ("\uff21\uff23\uff2d\uff25 (2)", "acme (2)"),
            ("Acme\u200b (3)", "acme (3)"),
            ("\u00c4rzte GmbH", "\u00e4rzte gmbh"),
            ("acme", "acme"),
        ]
    finally:
        migrate(executor_leaf())


def executor_leaf():
    executor = MigrationExecutor(db)
    return executor.loader.graph.leaf_nodes()
