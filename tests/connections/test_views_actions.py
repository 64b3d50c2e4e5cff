"""The POST-only actions on a connection page: test, authorize, disconnect."""

from __future__ import annotations

from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from connections.authorization import AuthorizationError
from connections.models import Action, Connection, Event, PendingAuthorization, Source, Status
from tests.conftest import API_TOKEN, CLIENT_SECRET, closed_port
from tests.connections.outcomes import as_check, outcome_of

pytestmark = pytest.mark.django_db

ACTIONS = ["test", "authorize", "disconnect"]


@pytest.fixture
def member(client, owner):
    client.force_login(owner)
    return client


def url(name, connection):
    return reverse(f"connections:{name}", args=[connection.pk])


@pytest.mark.parametrize("name", ACTIONS)
def test_actions_refuse_get_with_405(member, oauth_connection, name):
    assert member.get(url(name, oauth_connection)).status_code == 405
    assert not PendingAuthorization.objects.exists()
    assert not Event.objects.exists()


@pytest.mark.parametrize("name", ACTIONS)
def test_actions_on_another_members_connection_are_not_found(
    client, stranger, oauth_connection, name
):
    client.force_login(stranger)
    with mock.patch("connections.flows.connection_check", autospec=True) as tested:
        assert client.post(url(name, oauth_connection)).status_code == 404
    tested.assert_not_called()
    assert not PendingAuthorization.objects.exists()
    assert not Event.objects.exists()


@pytest.mark.parametrize("name", [*ACTIONS, "delete", "edit"])
def test_posts_without_a_csrf_token_are_refused(owner, oauth_connection, name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(url(name, oauth_connection), {"name": "Changed"})
    assert response.status_code == 403
    oauth_connection.refresh_from_db()
    assert oauth_connection.name == "Sales inbox"
    assert not PendingAuthorization.objects.exists()
    assert not Event.objects.exists()


def test_creating_without_a_csrf_token_is_refused(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    data = {"name": "S", "company_name": "A", "auth_type": "token", "api_token": API_TOKEN}
    assert client.post(reverse("connections:new"), data).status_code == 403
    assert not Connection.objects.exists()


def test_a_post_with_the_csrf_token_from_the_page_works(owner, token_connection):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    page = client.get(token_connection.get_absolute_url())
    token = page.context["csrf_token"]
    with mock.patch("connections.flows.connection_check", autospec=True) as tested:
        tested.return_value = outcome_of(token_connection)
        response = client.post(url("test", token_connection), {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    tested.assert_called_once()


def test_test_reports_offline_with_the_reason_in_words(member, owner, token_connection):
    def offline(*, connection, actor, source):
        connection.status = Status.OFFLINE
        connection.last_check_result = "Front refused the API token (401 Unauthenticated)."
        return connection

    with mock.patch(
        "connections.flows.connection_check", autospec=True, side_effect=as_check(offline)
    ) as tested:
        response = member.post(url("test", token_connection), follow=True)
    tested.assert_called_once_with(
        connection=token_connection, actor=owner, source=Source.SELF_SERVICE
    )
    assert (
        "Front did not accept \u201cSupport inbox\u201d: it is Offline."
        in response.content.decode()
    )
    assert b"Front refused the API token (401 Unauthenticated)." in response.content
    assert API_TOKEN.encode() not in response.content


def test_test_against_an_unreachable_front_records_could_not_check(
    member, token_connection, settings, monkeypatch
):
    # The real service, against a local port where nothing listens, without the retry pauses:
    # Front being unreachable is not a refusal, so the status stays.
    settings.FRONT_API_URL = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setattr("urllib3.util.retry.Retry.sleep", lambda self, response=None: None)
    response = member.post(url("test", token_connection), follow=True)
    token_connection.refresh_from_db()
    assert response.status_code == 200
    assert token_connection.status == Status.UNCHECKED
    assert str(token_connection.last_check_result).startswith("Could not check: ")
    assert "Could not check \u201cSupport inbox\u201d" in response.content.decode()
    assert token_connection.last_checked_at is not None
    assert Event.objects.get(action=Action.TESTED).success is False
    assert API_TOKEN.encode() not in response.content


def test_authorize_redirects_to_front_with_a_state_and_keeps_secrets_out(member, oauth_connection):
    response = member.post(url("authorize", oauth_connection))
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(settings.FRONT_OAUTH_AUTHORIZE_URL)
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == ["client-id-123"]
    assert len(query["state"][0]) >= 43
    assert CLIENT_SECRET not in location
    pending = PendingAuthorization.objects.get()
    assert pending.connection == oauth_connection
    assert pending.return_url == oauth_connection.get_absolute_url()
    assert pending.source == Source.SELF_SERVICE


def test_authorize_explains_a_refusal_and_stays_on_the_page(member, oauth_connection):
    with mock.patch(
        "connections.flows.connection_authorize_start",
        autospec=True,
        side_effect=AuthorizationError("The OAuth 2.0 client has no readable client secret."),
    ):
        response = member.post(url("authorize", oauth_connection), follow=True)
    assert response.redirect_chain[-1][0] == oauth_connection.get_absolute_url()
    assert b"no readable client secret" in response.content


def test_authorize_refuses_a_token_connection(member, token_connection):
    with mock.patch("connections.flows.connection_authorize_start", autospec=True) as start:
        response = member.post(url("authorize", token_connection), follow=True)
    start.assert_not_called()
    assert b"Only OAuth 2.0 connections are authorized" in response.content


def test_disconnect_forgets_the_oauth_tokens(member, owner, oauth_connection):
    oauth_connection.access_token = "access-SECRET-4444"
    oauth_connection.refresh_token = "refresh-SECRET-5555"
    oauth_connection.status = Status.ONLINE
    oauth_connection.save()
    response = member.post(url("disconnect", oauth_connection), follow=True)
    oauth_connection.refresh_from_db()
    assert oauth_connection.access_token == "" and oauth_connection.refresh_token == ""
    assert oauth_connection.status == Status.NOT_AUTHORIZED
    assert b"is disconnected" in response.content
    assert b"access-SECRET-4444" not in response.content
    event = Event.objects.get(action=Action.DISCONNECTED)
    assert event.actor == owner and event.source == Source.SELF_SERVICE


def test_disconnect_refuses_a_token_connection_and_changes_nothing(member, token_connection):
    response = member.post(url("disconnect", token_connection), follow=True)
    token_connection.refresh_from_db()
    assert token_connection.api_token == API_TOKEN
    assert b"Only OAuth 2.0 connections can be disconnected" in response.content
    assert not Event.objects.exists()


def test_the_callback_of_a_flow_another_member_started_changes_nothing(
    client, owner, stranger, oauth_connection
):
    client.force_login(owner)
    state = parse_qs(urlsplit(client.post(url("authorize", oauth_connection))["Location"]).query)[
        "state"
    ][0]
    other = Client()
    other.force_login(stranger)
    response = other.get(reverse("oauth:callback"), {"state": state, "code": "code-SECRET-6666"})
    assert response.status_code in (403, 404)
    assert b"code-SECRET-6666" not in response.content
    assert state.encode() not in response.content
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.NOT_AUTHORIZED
    assert oauth_connection.access_token == ""
    assert PendingAuthorization.objects.get().used_at is None


def test_disconnect_asks_for_confirmation_saying_a_front_admin_must_accept_again(
    member, oauth_connection
):
    # Issue 19 item 5: the page links to a confirmation page whose form posts the action.
    oauth_connection.status = Status.ONLINE
    oauth_connection.save()
    detail = member.get(oauth_connection.get_absolute_url()).content.decode()
    confirm = url("disconnect_confirm", oauth_connection)
    assert f'href="{confirm}">Disconnect</a>' in detail
    assert f'action="{url("disconnect", oauth_connection)}"' not in detail

    response = member.get(confirm)
    content = response.content.decode()
    assert response.status_code == 200
    assert "a Front company admin must sign in to Front and accept the authorization again" in (
        content
    )
    assert f'<form method="post" action="{url("disconnect", oauth_connection)}">' in content
    assert not Event.objects.exists()  # asking changes nothing
    assert member.post(confirm).status_code == 405


def test_only_the_owner_is_asked_to_disconnect(client, stranger, oauth_connection):
    client.force_login(stranger)
    assert client.get(url("disconnect_confirm", oauth_connection)).status_code == 404


def test_a_token_connection_is_not_asked_to_disconnect(member, token_connection):
    response = member.get(url("disconnect_confirm", token_connection))
    assert response.status_code == 302 and response.url == token_connection.get_absolute_url()
