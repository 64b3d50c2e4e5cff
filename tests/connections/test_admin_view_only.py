"""Issue 9 item 1: staff with view permissions only see each secret's state, never its value."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from connections.models import Connection
from tests.conftest import API_TOKEN, CLIENT_SECRET, store_unreadable

ACCESS_TOKEN = "access-token-SECRET-3333"
REFRESH_TOKEN = "refresh-token-SECRET-4444"


@pytest.fixture
def viewer(client, stranger):
    stranger.is_staff = True
    stranger.save()
    stranger.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_connection", "view_oauthclient", "view_event", "view_scope"]
        )
    )
    client.force_login(stranger)
    return client


@pytest.fixture
def authorized_connection(oauth_connection):
    oauth_connection.access_token, oauth_connection.refresh_token = ACCESS_TOKEN, REFRESH_TOKEN
    oauth_connection.access_token_expires_at = timezone.now() + timedelta(hours=1)
    oauth_connection.save()
    return oauth_connection


def change_page(connection: Connection) -> str:
    return f"/admin/connections/connection/{connection.pk}/change/"


def test_a_viewer_sees_the_client_secrets_state_not_the_secret(viewer, oauth_client):
    response = viewer.get(f"/admin/oauthclients/oauthclient/{oauth_client.pk}/change/")
    assert response.status_code == 200
    assert CLIENT_SECRET.encode() not in response.content
    assert b"Client secret status" in response.content
    assert b"Set" in response.content


def test_a_viewer_sees_a_token_connection_without_its_token(viewer, token_connection):
    response = viewer.get(change_page(token_connection))
    assert response.status_code == 200
    assert API_TOKEN.encode() not in response.content
    assert b"Support inbox" in response.content
    assert b"Set" in response.content


def test_a_viewer_sees_an_oauth_connection_without_its_tokens(
    viewer, authorized_connection, oauth_client
):
    response = viewer.get(change_page(authorized_connection))
    assert response.status_code == 200
    for secret in (ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET):
        assert secret.encode() not in response.content
    assert b"Set, access token expires" in response.content


def test_a_viewer_sees_that_a_secret_cannot_be_decrypted(viewer, token_connection, settings):
    store_unreadable(token_connection, "api_token", settings)
    response = viewer.get(change_page(token_connection))
    assert response.status_code == 200
    assert b"Cannot be decrypted" in response.content


def test_a_viewer_gets_no_buttons_that_change_anything(viewer, authorized_connection):
    content = viewer.get(change_page(authorized_connection)).content.decode()
    assert "Save and authorize" not in content
    assert "fc-test-form" not in content and "disconnect/confirm/" not in content


def test_an_operator_who_may_change_sees_no_secret_either(operator_client, authorized_connection):
    response = operator_client.get(change_page(authorized_connection))
    assert response.status_code == 200
    for secret in (ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET):
        assert secret.encode() not in response.content
