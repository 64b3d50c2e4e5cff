from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from connections.models import Connection
from oauthclients.models import OAuthClient
from tests.conftest import CLIENT_SECRET, store_unreadable

ADD_URL = "/admin/oauthclients/oauthclient/add/"


def change_url(client: OAuthClient) -> str:
    return f"/admin/oauthclients/oauthclient/{client.pk}/change/"


def test_it_adds_a_client_with_an_encrypted_write_only_secret(operator_client, operator):
    response = operator_client.post(
        ADD_URL, {"name": "Front app", "client_id": "abc", "client_secret": CLIENT_SECRET}
    )
    assert response.status_code == 302
    client = OAuthClient.objects.get()
    assert client.client_secret == CLIENT_SECRET
    assert client.secret_changed_by == operator
    page = operator_client.get(change_url(client))
    assert CLIENT_SECRET.encode() not in page.content
    assert b"Set, last changed" in page.content


def test_a_new_client_needs_a_secret(operator_client):
    response = operator_client.post(ADD_URL, {"name": "Front app", "client_id": "abc"})
    assert response.status_code == 200
    assert b"Enter the client secret" in response.content
    assert not OAuthClient.objects.exists()


def test_a_blank_secret_on_edit_keeps_the_stored_one(operator_client, oauth_client):
    response = operator_client.post(
        change_url(oauth_client), {"name": "Renamed", "client_id": "client-id-123"}
    )
    assert response.status_code == 302
    oauth_client.refresh_from_db()
    assert oauth_client.name == "Renamed"
    assert oauth_client.client_secret == CLIENT_SECRET


def test_a_new_secret_on_edit_replaces_it(operator_client, oauth_client):
    operator_client.post(
        change_url(oauth_client),
        {"name": "Front app", "client_id": "client-id-123", "client_secret": "new-SECRET-9"},
    )
    oauth_client.refresh_from_db()
    assert oauth_client.client_secret == "new-SECRET-9"


def test_it_shows_the_redirect_url_to_enter_in_front(operator_client, oauth_client, settings):
    settings.FRONTCONNECT_BASE_URL = "https://connect.example.com"
    page = operator_client.get(change_url(oauth_client)).content.decode()
    assert "https://connect.example.com/oauth/callback/" in page
    assert "Enter this URL exactly in the Front app" in page


def test_deleting_a_client_in_use_is_refused_naming_the_connections(
    operator_client, oauth_connection, oauth_client
):
    url = f"/admin/oauthclients/oauthclient/{oauth_client.pk}/delete/"
    page = operator_client.get(url).content.decode()
    assert "Sales inbox" in page
    operator_client.post(url, {"post": "yes"})
    assert OAuthClient.objects.filter(pk=oauth_client.pk).exists()
    assert Connection.objects.filter(pk=oauth_connection.pk).exists()


def test_an_unused_client_can_be_deleted(operator_client, oauth_client):
    url = f"/admin/oauthclients/oauthclient/{oauth_client.pk}/delete/"
    operator_client.post(url, {"post": "yes"})
    assert not OAuthClient.objects.exists()


def test_the_secret_never_reaches_the_history_or_the_changelist(operator_client):
    operator_client.post(
        ADD_URL, {"name": "Front app", "client_id": "abc", "client_secret": CLIENT_SECRET}
    )
    listing = operator_client.get("/admin/oauthclients/oauthclient/")
    assert CLIENT_SECRET.encode() not in listing.content
    entry = LogEntry.objects.get()
    assert CLIENT_SECRET not in entry.change_message + entry.object_repr
    client = OAuthClient.objects.get()
    assert CLIENT_SECRET not in str(client) + repr(client)


def test_an_invalid_post_does_not_echo_the_secret(operator_client):
    response = operator_client.post(
        ADD_URL, {"name": "", "client_id": "abc", "client_secret": CLIENT_SECRET}
    )
    assert response.status_code == 200
    assert CLIENT_SECRET.encode() not in response.content


def test_an_unreadable_secret_is_reported_and_the_page_still_renders(
    operator_client, oauth_client, settings
):
    store_unreadable(oauth_client, "client_secret", settings)
    page = operator_client.get(change_url(oauth_client))
    assert page.status_code == 200
    assert b"Cannot be decrypted: enter it again." in page.content


def test_an_empty_secret_on_edit_keeps_the_stored_one(operator_client, oauth_client):
    # What a browser sends for an untouched password input: the field, empty.
    response = operator_client.post(
        change_url(oauth_client),
        {"name": "Renamed", "client_id": "client-id-123", "client_secret": ""},
    )
    assert response.status_code == 302
    oauth_client.refresh_from_db()
    assert oauth_client.name == "Renamed"
    assert oauth_client.client_secret == CLIENT_SECRET
    assert oauth_client.secret_changed_by is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"client_id": "id\u20acuro"}, b"The client ID may contain only printable ASCII"),
        ({"client_id": "two words"}, b"The client ID may contain only printable ASCII"),
        ({"client_secret": "sec\u20acret"}, b"The client secret may contain only printable ASCII"),
        ({"name": "App\x1b[2J"}, b"Remove the control characters"),
    ],
)
def test_client_text_is_checked(operator_client, data, message):
    post = {"name": "Front app", "client_id": "abc", "client_secret": CLIENT_SECRET, **data}
    response = operator_client.post(ADD_URL, post)
    assert response.status_code == 200
    assert message in response.content
    assert CLIENT_SECRET.encode() not in response.content
    assert not OAuthClient.objects.exists()
