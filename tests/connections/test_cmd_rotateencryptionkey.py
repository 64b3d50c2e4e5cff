from __future__ import annotations

import base64
import secrets
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from common.crypto import key_fingerprint
from connections.models import Connection, EncryptionKeyFingerprint, Event
from oauthclients.models import OAuthClient
from tests.conftest import API_TOKEN, CLIENT_SECRET


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def secrets_under_k1(token_connection, oauth_connection, oauth_client, settings):
    settings.FRONTCONNECT_ENCRYPTION_KEY = k1 = new_key()
    oauth_connection.access_token = "access-SECRET-4444"
    oauth_connection.refresh_token = "refresh-SECRET-5555"
    oauth_connection.save()
    token_connection.api_token = API_TOKEN
    token_connection.save()
    oauth_client.client_secret = CLIENT_SECRET
    oauth_client.save()
    return k1


def read_all() -> dict[str, str]:
    token = Connection.objects.get(name="Support inbox")
    oauth = Connection.objects.get(name="Sales inbox")
    return {
        "api_token": token.api_token,
        "access": oauth.access_token,
        "refresh": oauth.refresh_token,
        "secret": OAuthClient.objects.get().client_secret,
    }


EXPECTED = {
    "api_token": API_TOKEN,
    "access": "access-SECRET-4444",
    "refresh": "refresh-SECRET-5555",
    "secret": CLIENT_SECRET,
}


def test_it_rotates_every_secret_to_the_new_key(secrets_under_k1, settings):
    k2 = new_key()
    settings.FRONTCONNECT_ENCRYPTION_KEY = k2
    settings.FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS = [secrets_under_k1]
    assert read_all() == EXPECTED

    out = StringIO()
    call_command("rotateencryptionkey", stdout=out)
    assert "re-encrypted 4, already current 0" in out.getvalue()
    for secret in EXPECTED.values():
        assert secret not in out.getvalue()

    settings.FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS = []
    assert read_all() == EXPECTED
    assert Event.objects.filter(action="key_rotated").count() == 2

    again = StringIO()
    call_command("rotateencryptionkey", stdout=again)
    assert "re-encrypted 0, already current 4" in again.getvalue()


def test_a_dry_run_changes_nothing(secrets_under_k1, settings):
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()
    settings.FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS = [secrets_under_k1]
    out = StringIO()
    call_command("rotateencryptionkey", "--dry-run", stdout=out)
    assert "would re-encrypt 4" in out.getvalue()
    settings.FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS = []
    assert Connection.objects.get(name="Support inbox").undecryptable_fields == ["api_token"]
    assert not Event.objects.filter(action="key_rotated").exists()


def test_it_names_unreadable_values_by_id_and_keeps_them(secrets_under_k1, settings):
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()  # k1 forgotten: nothing can read them
    # ...and the new key recorded as the database's (say, by a restore): no key mismatch then,
    # only values nobody can read.
    EncryptionKeyFingerprint.objects.update_or_create(
        pk=1, defaults={"fingerprint": key_fingerprint(settings.FRONTCONNECT_ENCRYPTION_KEY)}
    )
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="cannot be read with any configured key"):
        call_command("rotateencryptionkey", stdout=out, stderr=err)
    token_id = Connection.objects.get(name="Support inbox").pk
    assert f"connections.Connection id {token_id}: api_token cannot be decrypted" in err.getvalue()
    for secret in EXPECTED.values():
        assert secret not in out.getvalue() + err.getvalue()
    settings.FRONTCONNECT_ENCRYPTION_KEY = secrets_under_k1
    assert read_all() == EXPECTED


def test_it_rotates_webhook_signing_secrets_too(db, settings):
    from alerts.models import Webhook

    settings.FRONTCONNECT_ENCRYPTION_KEY = k1 = new_key()
    hook = Webhook(name="Pager", url="https://hooks.example.com/in")
    hook.secret = "webhook-signing-SECRET-7777-abcdefghijkl"
    hook.save()
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()
    settings.FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS = [k1]
    call_command("rotateencryptionkey", stdout=StringIO())
    settings.FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS = []
    assert Webhook.objects.get().secret == "webhook-signing-SECRET-7777-abcdefghijkl"
