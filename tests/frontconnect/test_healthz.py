from __future__ import annotations

import base64
import secrets
from unittest import mock

from django.db import DatabaseError

from connections.beat import scheduler_lock_take
from connections.keys import encryption_key_check
from connections.upkeep import heartbeat_record


def test_it_answers_ok_for_every_check(client, db):
    heartbeat_record()
    scheduler_lock_take("beat on host (pid 1)")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "database": "ok",
        "encryption_key": "ok",
        "worker": "ok",
        "scheduler": "ok",
        "broker": "ok",
    }


def test_it_answers_503_when_the_database_does_not(client, db):
    with mock.patch(
        "connections.views.health.connection.cursor", side_effect=DatabaseError("down")
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_it_answers_503_saying_why_when_the_key_does_not_match(client, db, settings):
    heartbeat_record()
    encryption_key_check()  # records the fingerprint of the key the secrets are written with
    settings.FRONTCONNECT_ENCRYPTION_KEY = base64.urlsafe_b64encode(
        secrets.token_bytes(32)
    ).decode()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["encryption_key"].startswith("mismatch: FRONTCONNECT_ENCRYPTION_KEY is not the key")
    assert settings.FRONTCONNECT_ENCRYPTION_KEY not in response.content.decode()
