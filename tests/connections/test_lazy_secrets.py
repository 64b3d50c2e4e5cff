"""Secrets are decrypted when code reads them, never when a row is loaded (issue 10, item 10).

The guard tests load pages that list OAuth rows (clients with secrets, connections with access
and refresh tokens) and assert that nothing is decrypted; ``test_the_guard_can_fail`` proves
they would notice eager decryption.
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection as db
from django.urls import reverse

from common import crypto
from common.crypto import SealedSecret, SecretState, UndecryptableSecret, secret_state
from connections.keys import encryption_key_check
from connections.models import AuthType, Connection
from oauthclients.models import OAuthClient
from tests.conftest import API_TOKEN, CLIENT_SECRET

pytestmark = pytest.mark.django_db


def raw_column(table: str, column: str, pk: int) -> bytes:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return bytes(cursor.fetchone()[0])


@pytest.fixture
def oauth_rows(owner, scopes):
    """Three clients with secrets and, for each, a connection holding access and refresh tokens."""
    for n in range(3):
        client = OAuthClient(name=f"App {n}", client_id=f"id-{n}")
        client.client_secret = f"{CLIENT_SECRET}-{n}"
        client.save()
        connection = Connection(
            name=f"Inbox {n}",
            company_name="Acme",
            auth_type=AuthType.OAUTH2,
            oauth_client=client,
            owner=owner,
        )
        connection.access_token = f"access-SECRET-{n}"
        connection.refresh_token = f"refresh-SECRET-{n}"
        connection.save()
        connection.scopes.set(scopes)
    token = Connection(name="Token inbox", company_name="Acme", owner=owner)
    token.api_token = API_TOKEN
    token.save()


def pages(owner, operator) -> list[tuple[object, str]]:
    return [
        (operator, "/admin/connections/connection/"),
        (
            operator,
            f"/admin/connections/connection/?oauth_client__id__exact={OAuthClient.objects.first().pk}",
        ),
        (operator, "/admin/oauthclients/oauthclient/"),
        (operator, "/admin/connections/connection/add/"),  # the admin's client select
        (owner, reverse("connections:list")),
        (owner, reverse("connections:new")),  # the client select lists every client
    ]


def get_all(client, owner, operator) -> None:
    for user, url in pages(owner, operator):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200, url
        for secret in (API_TOKEN, CLIENT_SECRET, "access-SECRET", "refresh-SECRET"):
            assert secret.encode() not in response.content


def test_lists_filters_and_selects_never_decrypt(client, owner, operator, oauth_rows):
    encryption_key_check()  # as migrate does; the very first check reads a sample of secrets
    with mock.patch("common.crypto.decrypt", wraps=crypto.decrypt) as decrypt:
        get_all(client, owner, operator)
    decrypt.assert_not_called()


def test_the_guard_can_fail(client, owner, operator, oauth_rows, monkeypatch):
    def eager(self, value, expression, connection):
        return crypto.decrypt(bytes(value)) if value else value

    monkeypatch.setattr(crypto.EncryptedTextField, "from_db_value", eager)
    with mock.patch("common.crypto.decrypt", wraps=crypto.decrypt) as decrypt:
        get_all(client, owner, operator)
    assert decrypt.called


def test_loading_decrypts_nothing_and_reading_decrypts_once(token_connection):
    with mock.patch("common.crypto.decrypt", wraps=crypto.decrypt) as decrypt:
        loaded = Connection.objects.get(pk=token_connection.pk)
        assert decrypt.call_count == 0
        assert loaded.api_token == API_TOKEN
        assert loaded.api_token == API_TOKEN
        assert decrypt.call_count == 1


def test_an_unread_secret_is_saved_back_as_the_same_ciphertext(token_connection):
    before = raw_column("connections_connection", "api_token", token_connection.pk)
    loaded = Connection.objects.get(pk=token_connection.pk)
    loaded.company_name = "Renamed"
    with mock.patch("common.crypto.encrypt", wraps=crypto.encrypt) as encrypt:
        with mock.patch("common.crypto.decrypt", wraps=crypto.decrypt) as decrypt:
            loaded.save()
    encrypt.assert_not_called()
    decrypt.assert_not_called()
    assert raw_column("connections_connection", "api_token", token_connection.pk) == before
    assert Connection.objects.get(pk=token_connection.pk).api_token == API_TOKEN


def test_a_changed_secret_is_encrypted_again(token_connection):
    loaded = Connection.objects.get(pk=token_connection.pk)
    loaded.api_token = "tok-NEW"
    loaded.save()
    assert Connection.objects.get(pk=token_connection.pk).api_token == "tok-NEW"


def test_an_unreadable_secret_stays_unreadable_and_intact(token_connection, settings):
    import base64
    import secrets

    before = raw_column("connections_connection", "api_token", token_connection.pk)
    settings.FRONTCONNECT_ENCRYPTION_KEY = base64.urlsafe_b64encode(
        secrets.token_bytes(32)
    ).decode()
    loaded = Connection.objects.get(pk=token_connection.pk)
    assert isinstance(loaded.api_token, UndecryptableSecret)
    loaded.name = "Renamed"
    loaded.save()
    assert raw_column("connections_connection", "api_token", token_connection.pk) == before


def test_values_give_a_sealed_secret_that_opens(token_connection):
    (value,) = Connection.objects.values_list("api_token", flat=True)
    assert isinstance(value, SealedSecret) and API_TOKEN not in repr(value)
    assert value.open() == API_TOKEN


def test_secret_states_are_an_enum_with_the_page_labels(token_connection, settings):
    assert secret_state(token_connection.api_token) is SecretState.SET
    assert secret_state("") is SecretState.NOT_SET
    assert secret_state(UndecryptableSecret(b"x")) is SecretState.UNREADABLE
    assert [str(s) for s in SecretState] == [
        "Set",
        "Not set",
        "Cannot be decrypted: enter it again.",
    ]
