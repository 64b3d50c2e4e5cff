"""Migration 0003 encrypts the stored webhook URLs and records their hosts, and can go back."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("alerts", "0002_lapse_warnings")]
AFTER = [("alerts", "0003_webhooks_destinations_and_pause")]
URL = "https://hooks.example.com:8443/in/T0KEN-PATH?key=QUERY-SECRET"


def migrate(targets):
    executor = MigrationExecutor(db)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_existing_urls_are_encrypted_with_their_host_kept_apart():
    old = migrate(BEFORE)
    old.get_model("alerts", "Webhook").objects.create(name="Pager", url=URL, secret="")
    try:
        new = migrate(AFTER)
        webhook = new.get_model("alerts", "Webhook").objects.get()
        assert str(webhook.url) == URL and webhook.host == "hooks.example.com:8443"
        with db.cursor() as cursor:
            cursor.execute("SELECT url FROM alerts_webhook")
            (stored,) = cursor.fetchone()
        assert b"T0KEN-PATH" not in bytes(stored)
        back = migrate(BEFORE)
        assert back.get_model("alerts", "Webhook").objects.get().url == URL
    finally:
        executor = MigrationExecutor(db)
        migrate(executor.loader.graph.leaf_nodes())
