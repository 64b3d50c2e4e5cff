from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from api.models import ApiKeyUsage, Permission
from connections import upkeep
from connections.models import Status
from connections.tokens import token_digest
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db


def url(connection) -> str:
    return f"/api/v1/connections/{connection.pk}/access-token/"


def seed(front, connection, *, expires_in: timedelta) -> str:
    tokens = front.issue()
    connection.access_token = str(tokens["access_token"])
    connection.refresh_token = str(tokens["refresh_token"])
    connection.access_token_expires_at = timezone.now() + expires_in
    connection.status = Status.ONLINE
    connection.save()
    return str(tokens["access_token"])


def test_a_token_connection_gives_its_api_token(full_api, token_connection):
    response = full_api.post(url(token_connection))
    assert response.status_code == 200
    assert response.json() == {
        "access_token": API_TOKEN,
        "token_type": "Bearer",
        "expires_at": None,
    }
    assert response["Cache-Control"] == "no-store"


def test_a_fresh_oauth_token_is_given_without_a_refresh(full_api, oauth_connection, front_settings):
    access = seed(front_settings, oauth_connection, expires_in=timedelta(hours=1))
    body = full_api.post(url(oauth_connection)).json()
    assert body["access_token"] == access and body["expires_at"]
    assert front_settings.refresh_count() == 0


def test_an_expired_oauth_token_is_refreshed_first(full_api, oauth_connection, front_settings):
    old = seed(front_settings, oauth_connection, expires_in=timedelta(minutes=-1))
    body = full_api.post(url(oauth_connection)).json()
    assert body["access_token"] != old
    assert body["access_token"] in front_settings.access_tokens
    assert front_settings.refresh_count() == 1


def test_an_unauthorized_oauth_connection_is_409(full_api, oauth_connection, front_settings):
    response = full_api.post(url(oauth_connection))
    assert response.status_code == 409
    assert response.json()["error"]
    assert front_settings.refresh_count() == 0


def test_a_read_only_key_cannot_get_a_token(make_key, api, token_connection):
    response = api(make_key([Permission.READ]).plaintext).post(url(token_connection))
    assert response.status_code == 403
    assert API_TOKEN not in response.content.decode()


def test_another_users_connection_is_404(full_api, stranger, token_connection):
    token_connection.owner = stranger
    token_connection.save()
    response = full_api.post(url(token_connection))
    assert response.status_code == 404
    assert API_TOKEN not in response.content.decode()


def test_each_call_is_counted_per_key_and_connection(full_api, full_key, token_connection):
    for _ in range(3):
        full_api.post(url(token_connection))
    usage = ApiKeyUsage.objects.get()
    assert (usage.key_id, usage.connection_id, usage.count) == (
        full_key.key.pk,
        token_connection.pk,
        3,
    )


def test_get_is_not_allowed(full_api, token_connection):
    response = full_api.get(url(token_connection))
    assert response.status_code == 405
    assert API_TOKEN not in response.content.decode()


def test_a_call_stamps_the_connection_as_used(full_api, token_connection):
    assert token_connection.last_used_at is None
    full_api.post(url(token_connection))
    token_connection.refresh_from_db()
    assert token_connection.last_used_at is not None


def handed_out_until(body) -> datetime:
    return datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))


def test_expires_at_is_never_later_than_the_workers_planned_refresh(
    full_api, oauth_connection, front_settings
):
    # Issue 16 item 10: a server that revokes the old access token on refresh made a handed-out
    # token fail up to the worker's lead before the promised expiry.
    seed(front_settings, oauth_connection, expires_in=timedelta(hours=1))
    oauth_connection.refresh_token_digest = token_digest(str(oauth_connection.refresh_token))
    oauth_connection.save()
    body = full_api.post(url(oauth_connection)).json()
    promised = handed_out_until(body)
    oauth_connection.refresh_from_db()
    expiry = oauth_connection.access_token_expires_at
    assert promised == expiry - upkeep.refresh_lead(oauth_connection)
    # The worker plans to refresh exactly then, not a second earlier.
    assert upkeep.connection_refresh_due(oauth_connection, now=promised)
    assert not upkeep.connection_refresh_due(oauth_connection, now=promised - timedelta(seconds=1))
    assert front_settings.refresh_count() == 0


def test_a_token_the_worker_is_due_to_refresh_is_refreshed_before_it_is_handed_out(
    full_api, oauth_connection, front_settings
):
    old = seed(front_settings, oauth_connection, expires_in=timedelta(minutes=9))
    body = full_api.post(url(oauth_connection)).json()
    assert body["access_token"] != old and front_settings.refresh_count() == 1
    promised = handed_out_until(body)
    assert promised > timezone.now() + timedelta(minutes=5)
    oauth_connection.refresh_from_db()
    assert not upkeep.connection_refresh_due(oauth_connection, now=promised - timedelta(seconds=1))
