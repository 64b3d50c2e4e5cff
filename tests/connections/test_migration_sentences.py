"""Migration 0022 turns the stored English sentences into codes, and back when reversed."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("connections", "0021_team_connections")]
AFTER = [("connections", "0022_sentences_as_codes")]


def migrate(targets):
    executor = MigrationExecutor(db)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def leaf():
    return MigrationExecutor(db).loader.graph.leaf_nodes()


def test_stored_sentences_become_codes_and_come_back_as_english():
    old = migrate(BEFORE)
    owner = old.get_model("auth", "User").objects.create(username="alice")
    Connection = old.get_model("connections", "Connection")
    connection = Connection.objects.create(
        name="Support", company_name="Acme", owner=owner,
        last_check_result="Online: Front company Acme Corp.",
    )  # fmt: skip
    Event = old.get_model("connections", "Event")
    Event.objects.create(
        connection=connection, connection_name="Support", action="link", source="admin",
        message="Authorization link 7 revoked.",
    )  # fmt: skip
    Event.objects.create(
        connection=connection, connection_name="Support", action="updated", source="admin",
        message="A sentence from an older version.",
    )  # fmt: skip
    try:
        new = migrate(AFTER)
        row = new.get_model("connections", "Connection").objects.get()
        assert row.last_check_result.code == "check.online"
        messages = [e.message for e in new.get_model("connections", "Event").objects.order_by("pk")]
        assert [m.code for m in messages] == ["link.revoked", "text"]
        with translation.override("fr"):
            assert str(messages[0]) == "Lien d\u2019autorisation 7 révoqué."
        assert str(messages[1]) == "A sentence from an older version."

        back = migrate(BEFORE)
        assert list(
            back.get_model("connections", "Event")
            .objects.order_by("pk")
            .values_list("message", flat=True)
        ) == ["Authorization link 7 revoked.", "A sentence from an older version."]
        assert back.get_model("connections", "Connection").objects.get().last_check_result == (
            "Online: Front company Acme Corp."
        )
    finally:
        migrate(leaf())
