from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone

from api.keys import KEY_PATTERN, apikey_revoke, key_hash
from api.models import ApiKey

pytestmark = pytest.mark.django_db

URL = "/api/v1/connections/"


def assert_unauthorized(response):
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert set(body) == {"error", "fields"} and body["error"].endswith(".")


def test_a_request_without_a_key_is_401(api):
    assert_unauthorized(api(None).get(URL))


def test_an_unknown_key_is_401(api, full_key):
    forged = full_key.plaintext[:-4] + "AAAA"
    assert_unauthorized(api(forged).get(URL))


def test_a_malformed_header_is_401(api):
    client = api(None)
    client.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert_unauthorized(client.get(URL))


def test_a_revoked_key_is_401(api, full_key, operator):
    assert api(full_key.plaintext).get(URL).status_code == 200
    assert apikey_revoke(key=full_key.key, actor=operator)
    assert_unauthorized(api(full_key.plaintext).get(URL))
    assert not apikey_revoke(key=full_key.key, actor=operator)


def test_an_expired_key_is_401(api, make_key):
    made = make_key(expires_at=timezone.now() - timedelta(seconds=1))
    assert_unauthorized(api(made.plaintext).get(URL))


def test_a_key_whose_owner_was_deactivated_is_401(api, full_key, owner):
    owner.is_active = False
    owner.save()
    assert_unauthorized(api(full_key.plaintext).get(URL))


def test_the_api_does_not_redirect_to_the_sign_in_page(client):
    response = client.get(URL)
    assert response.status_code == 401


def test_a_session_does_not_authenticate_the_api(operator_client):
    assert operator_client.get(URL).status_code == 401


def test_the_key_is_long_random_and_recognisable(full_key, make_key):
    assert KEY_PATTERN.match(full_key.plaintext)
    assert full_key.plaintext.startswith("fc_live_" + full_key.key.public_id + "_")
    assert len(full_key.plaintext) >= 60
    assert make_key().plaintext != full_key.plaintext
    assert full_key.plaintext not in repr(full_key)


def test_only_a_hash_of_the_key_is_stored(full_key):
    stored = ApiKey.objects.get(pk=full_key.key.pk)
    assert stored.key_hash == key_hash(full_key.plaintext)
    assert stored.key_hash != full_key.plaintext


def test_no_table_holds_the_plaintext_key(full_api, full_key, token_connection):
    full_api.get(URL)
    full_api.post(f"{URL}{token_connection.pk}/access-token/")
    # The random part is base64url, so it may itself hold "_": cut the known prefix instead.
    secret_part = full_key.plaintext.removeprefix(f"fc_live_{full_key.key.public_id}_")[:20]
    assert len(secret_part) == 20
    found = []
    with db.cursor() as cursor:
        for table in db.introspection.table_names(cursor):
            columns = [col.name for col in db.introspection.get_table_description(cursor, table)]
            quoted = ", ".join(db.ops.quote_name(name) for name in columns)
            cursor.execute(f"SELECT {quoted} FROM {db.ops.quote_name(table)}")
            for row in cursor.fetchall():
                text = " ".join(str(value) for value in row)
                if secret_part in text or full_key.plaintext in text:
                    found.append(table)
    assert found == []


def test_last_use_is_recorded_at_most_once_a_minute(api, full_key, django_assert_num_queries):
    client = api(full_key.plaintext)
    client.get(URL, REMOTE_ADDR="10.0.0.7")
    key = ApiKey.objects.get(pk=full_key.key.pk)
    assert key.last_used_at is not None and key.last_used_ip == "10.0.0.7"
    first = key.last_used_at
    client.get(URL, REMOTE_ADDR="10.0.0.8")
    key.refresh_from_db()
    assert key.last_used_at == first and key.last_used_ip == "10.0.0.7"
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get(URL, REMOTE_ADDR="10.0.0.8")
    key.refresh_from_db()
    assert key.last_used_ip == "10.0.0.8"


def test_last_use_behind_a_proxy_is_the_clients_address(api, full_key, settings):
    # The same client address as sign-in throttling: the entry the trusted proxy appended.
    settings.BEHIND_PROXY, settings.PROXY_HOPS = True, 1
    api(full_key.plaintext).get(
        URL, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9"
    )
    assert ApiKey.objects.get(pk=full_key.key.pk).last_used_ip == "203.0.113.9"


def test_without_a_proxy_the_forwarded_header_is_ignored(api, full_key, settings):
    settings.BEHIND_PROXY = False
    api(full_key.plaintext).get(URL, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert ApiKey.objects.get(pk=full_key.key.pk).last_used_ip == "10.0.0.1"
