from __future__ import annotations

import base64
import secrets

import pytest
from django.db import connection as db

from common.crypto import UndecryptableSecret, needs_rotation
from connections.models import Connection
from oauthclients.models import OAuthClient
from tests.conftest import API_TOKEN, CLIENT_SECRET, store_unreadable


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def raw_column(table: str, column: str, pk: int) -> bytes:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return bytes(cursor.fetchone()[0])


def test_the_database_never_holds_the_plaintext(token_connection, oauth_client):
    raw_token = raw_column("connections_connection", "api_token", token_connection.pk)
    raw_secret = raw_column("oauthclients_oauthclient", "client_secret", oauth_client.pk)
    assert raw_token and API_TOKEN.encode() not in raw_token
    assert raw_secret and CLIENT_SECRET.encode() not in raw_secret
    # Encryption is randomised: the same plaintext never gives the same ciphertext twice.
    other = OAuthClient(name="Other", client_id="x")
    other.client_secret = CLIENT_SECRET
    other.save()
    assert raw_column("oauthclients_oauthclient", "client_secret", other.pk) != raw_secret


def test_it_reads_back_what_it_wrote(token_connection, oauth_client):
    assert Connection.objects.get(pk=token_connection.pk).api_token == API_TOKEN
    assert OAuthClient.objects.get(pk=oauth_client.pk).client_secret == CLIENT_SECRET


def test_changing_the_secret_key_leaves_secrets_readable(token_connection, settings):
    settings.SECRET_KEY = "a-completely-different-secret-key-" + "y" * 40
    assert Connection.objects.get(pk=token_connection.pk).api_token == API_TOKEN


def test_a_value_under_another_key_is_reported_not_raised(token_connection, settings):
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()
    loaded = Connection.objects.get(pk=token_connection.pk)
    assert isinstance(loaded.api_token, UndecryptableSecret)
    assert loaded.undecryptable_fields == ["api_token"]
    assert str(loaded.api_token) == "" and API_TOKEN not in repr(loaded.api_token)


def test_saving_an_unreadable_value_keeps_the_ciphertext(token_connection, settings):
    before = raw_column("connections_connection", "api_token", token_connection.pk)
    original_key = settings.FRONTCONNECT_ENCRYPTION_KEY
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()
    loaded = Connection.objects.get(pk=token_connection.pk)
    loaded.company_name = "Renamed"
    loaded.save()
    assert raw_column("connections_connection", "api_token", token_connection.pk) == before
    settings.FRONTCONNECT_ENCRYPTION_KEY = original_key
    assert Connection.objects.get(pk=token_connection.pk).api_token == API_TOKEN


def test_fallback_keys_still_read_older_values(token_connection, settings):
    old_key = settings.FRONTCONNECT_ENCRYPTION_KEY
    settings.FRONTCONNECT_ENCRYPTION_KEY = new_key()
    settings.FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS = [old_key]
    assert Connection.objects.get(pk=token_connection.pk).api_token == API_TOKEN
    assert needs_rotation(raw_column("connections_connection", "api_token", token_connection.pk))


@pytest.mark.parametrize("text", ["", "ü€😀", "x" * 5000])
def test_it_round_trips_any_text(owner, text):
    connection = Connection(name="t", company_name="c", owner=owner)
    connection.api_token = text
    connection.save()
    assert Connection.objects.get(pk=connection.pk).api_token == text


def test_the_admin_page_still_renders_an_unreadable_secret(
    operator_client, token_connection, settings
):
    store_unreadable(token_connection, "api_token", settings)
    response = operator_client.get(f"/admin/connections/connection/{token_connection.pk}/change/")
    assert response.status_code == 200
    assert b"Cannot be decrypted: enter it again." in response.content
