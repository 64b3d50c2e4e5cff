"""Migration 0007 turns the stored English notes and delivery errors into codes, and back."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("alerts", "0006_translatable_labels")]
AFTER = [("alerts", "0007_notes_and_errors_as_codes")]


def migrate(targets):
    executor = MigrationExecutor(db)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_delivery_errors_become_codes_and_come_back_as_english():
    old = migrate(BEFORE)
    Webhook = old.get_model("alerts", "Webhook")
    hook = Webhook.objects.create(name="Pager", url="x", secret="y")
    Delivery = old.get_model("alerts", "WebhookDelivery")
    for error in ["could not connect", "HTTP 302 (redirects are not followed)", "HTTP 500"]:
        Delivery.objects.create(webhook=hook, error=error)
    try:
        new = migrate(AFTER)
        errors = [
            d.error for d in new.get_model("alerts", "WebhookDelivery").objects.order_by("pk")
        ]
        assert [e.code for e in errors] == [
            "delivery.connect_failed", "delivery.redirect", "delivery.http_status",
        ]  # fmt: skip
        with translation.override("fr"):
            assert str(errors[0]) == "connexion impossible"
        back = migrate(BEFORE)
        assert list(
            back.get_model("alerts", "WebhookDelivery")
            .objects.order_by("pk")
            .values_list("error", flat=True)
        ) == ["could not connect", "HTTP 302 (redirects are not followed)", "HTTP 500"]
    finally:
        migrate(MigrationExecutor(db).loader.graph.leaf_nodes())
