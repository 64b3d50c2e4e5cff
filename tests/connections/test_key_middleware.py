"""Issue 9 item 4: with a key that cannot read this database, the web process serves nothing."""

from __future__ import annotations

import base64
import secrets

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from connections import keys
from connections.keys import encryption_key_check
from connections.models import EncryptionKeyFingerprint


@pytest.fixture
def wrong_key(db, settings):
    encryption_key_check()
    settings.FRONTCONNECT_ENCRYPTION_KEY = base64.urlsafe_b64encode(
        secrets.token_bytes(32)
    ).decode()
    return settings.FRONTCONNECT_ENCRYPTION_KEY


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/connections/", "/admin/", "/admin/login/", "/oauth/callback/"]
)
def test_every_page_answers_503_with_a_wrong_key(client, wrong_key, path):
    response = client.get(path)
    assert response.status_code == 503
    assert b"FrontConnect is unavailable" in response.content
    assert wrong_key.encode() not in response.content


def test_a_signed_in_member_cannot_post_with_a_wrong_key(
    client, owner, token_connection, wrong_key
):
    client.force_login(owner)
    response = client.post(f"/connections/{token_connection.pk}/edit/", {"api_token": "new"})
    assert response.status_code == 503
    token_connection.refresh_from_db()
    assert token_connection.api_token != "new"


def test_pages_are_served_with_the_right_key(client, db):
    encryption_key_check()
    assert client.get("/accounts/login/").status_code == 200


def test_the_verdict_is_remembered_and_rechecked_after_a_while(client, db, monkeypatch):
    client.get("/accounts/login/")
    with CaptureQueriesContext(db_connection) as queries:
        client.get("/accounts/login/")
    assert not any("encryptionkeyfingerprint" in q["sql"] for q in queries.captured_queries)
    # A rotation elsewhere recorded another key: noticed at the next re-check.
    EncryptionKeyFingerprint.objects.update(fingerprint="0" * 16)
    assert client.get("/accounts/login/").status_code == 200
    clock = keys.time.monotonic() + keys.KEY_RECHECK_SECONDS + 1
    monkeypatch.setattr(keys.time, "monotonic", lambda: clock)
    assert client.get("/accounts/login/").status_code == 503


def test_requests_that_waited_for_a_recheck_take_its_verdict(monkeypatch):
    """Under load, every request that found the verdict out of date queued for the lock and
    then ran the database check again, each holding a pool connection: a cold process at
    concurrency 128 had its whole pool held that way for DATABASE_POOL_TIMEOUT seconds."""
    import threading
    import time

    checks: list[int] = []
    entered = threading.Event()

    def slow_check():
        checks.append(1)
        entered.set()
        time.sleep(0.2)
        return None

    monkeypatch.setattr(keys, "encryption_key_check", slow_check)
    keys.encryption_key_forget()
    first = threading.Thread(target=keys.encryption_key_problem)
    first.start()
    assert entered.wait(5)
    waiting = [threading.Thread(target=keys.encryption_key_problem) for _ in range(5)]
    for thread in waiting:
        thread.start()
    for thread in [first, *waiting]:
        thread.join()
    assert checks == [1]
    keys.encryption_key_forget()


def test_the_readmes_deploy_check_refuses_a_wrong_key(wrong_key):
    """The README's production check runs the database checks too, the key check among them."""
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    with pytest.raises(SystemCheckError, match="frontconnect.E001"):
        call_command("check", "--deploy", "--database", "default", stdout=StringIO())
