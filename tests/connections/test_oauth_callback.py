"""The OAuth 2.0 callback: success, and every way it refuses while changing nothing."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from connections import authorization, front
from connections.models import Action, Connection, Event, PendingAuthorization, Source, Status
from tests.conftest import CLIENT_SECRET

TOKEN_URL = "https://app.frontapp.com/oauth/token"
ME_URL = "https://api2.frontapp.com/me"
CODE = "auth-code-SECRET-6666"
ACCESS = "access-SECRET-7777"
REFRESH = "refresh-SECRET-8888"
CALLBACK = "/oauth/callback/"


@pytest.fixture(autouse=True)
def front_urls(settings):
    settings.FRONT_OAUTH_AUTHORIZE_URL = "https://app.frontapp.com/oauth/authorize"
    settings.FRONT_OAUTH_TOKEN_URL = TOKEN_URL
    settings.FRONT_API_URL = "https://api2.frontapp.com"
    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


def start(client: Client, connection: Connection) -> tuple[str, dict[str, list[str]]]:
    url = authorization.connection_authorize_start(
        connection=connection,
        user=connection.owner,
        session=client.session,
        return_url=f"/connections/{connection.pk}/",
        source=Source.SELF_SERVICE,
    )
    query = parse_qs(urlsplit(url).query)
    return query["state"][0], query


def token_ok(**extra) -> None:
    body = {
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "token_type": "Bearer",
        "expires_at": int(timezone.now().timestamp()) + 3600,
        **extra,
    }
    responses.post(TOKEN_URL, json=body)


def me_ok(company_id: str = "cmp_1", name: str = "Dunder Mifflin") -> None:
    responses.get(ME_URL, json={"_links": {"self": ME_URL}, "id": company_id, "name": name})


def snapshot(connection: Connection) -> tuple:
    connection.refresh_from_db()
    return (
        connection.access_token,
        connection.refresh_token,
        connection.access_token_expires_at,
        connection.status,
        connection.front_company_id,
    )


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def assert_no_secret(response) -> None:
    text = response.content.decode() + str(response.headers) + " ".join(message_texts(response))
    for secret in (CODE, ACCESS, REFRESH, CLIENT_SECRET):
        assert secret not in text


@responses.activate
def test_it_completes_the_authorization(owner_client, oauth_connection):
    state, _ = start(owner_client, oauth_connection)
    token_ok()
    me_ok()
    response = owner_client.get(CALLBACK, {"code": CODE, "state": state})
    assert response.status_code == 303
    assert response["Location"] == f"/connections/{oauth_connection.pk}/"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    oauth_connection.refresh_from_db()
    assert oauth_connection.access_token == ACCESS and oauth_connection.refresh_token == REFRESH
    assert oauth_connection.status == Status.ONLINE
    assert oauth_connection.front_company_id == "cmp_1"
    assert oauth_connection.front_company_name == "Dunder Mifflin"
    assert oauth_connection.access_token_expires_at > timezone.now() + timedelta(minutes=59)
    event = Event.objects.get(connection=oauth_connection, action=Action.AUTHORIZED)
    assert event.success and "Dunder Mifflin" in event.message
    assert any("authorized and Online" in text for text in message_texts(response))
    token_body = parse_qs(responses.calls[0].request.body)
    assert token_body["redirect_uri"] == ["https://fc.example.com/oauth/callback/"]
    assert len(token_body["code_verifier"][0]) == 43
    assert responses.calls[1].request.headers["Authorization"] == f"Bearer {ACCESS}"
    assert_no_secret(response)


@responses.activate
def test_the_state_is_single_use(owner_client, oauth_connection):
    state, _ = start(owner_client, oauth_connection)
    token_ok()
    me_ok()
    owner_client.get(CALLBACK, {"code": CODE, "state": state})
    before = snapshot(oauth_connection)
    response = owner_client.get(CALLBACK, {"code": CODE, "state": state})
    assert response.status_code == 303
    assert any("already used" in text for text in message_texts(response))
    assert len(responses.calls) == 2  # no second token request
    assert snapshot(oauth_connection) == before


@responses.activate
def test_it_treats_access_denied_as_a_cancel(owner_client, oauth_connection):
    state, _ = start(owner_client, oauth_connection)
    before = snapshot(oauth_connection)
    response = owner_client.get(CALLBACK, {"error": "access_denied", "state": state})
    assert response.status_code == 303
    assert response["Location"] == f"/connections/{oauth_connection.pk}/"
    assert any("not a company admin" in text for text in message_texts(response))
    assert snapshot(oauth_connection) == before
    assert len(responses.calls) == 0
    assert PendingAuthorization.objects.get().used_at is not None


@pytest.mark.parametrize("state", ["", "made-up-state"])
@responses.activate
def test_it_refuses_a_missing_or_unknown_state(owner_client, oauth_connection, state):
    start(owner_client, oauth_connection)
    before = snapshot(oauth_connection)
    response = owner_client.get(CALLBACK, {"code": CODE, "state": state})
    assert response.status_code == 403
    assert b"Authorization refused" in response.content
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert len(responses.calls) == 0
    assert snapshot(oauth_connection) == before
    assert_no_secret(response)


@responses.activate
def test_it_refuses_an_expired_state(owner_client, oauth_connection):
    state, _ = start(owner_client, oauth_connection)
    PendingAuthorization.objects.update(created_at=timezone.now() - timedelta(minutes=11))
    before = snapshot(oauth_connection)
    response = owner_client.get(CALLBACK, {"code": CODE, "state": state})
    assert response.status_code == 303
    assert any("longer than 10 minutes" in text for text in message_texts(response))
    assert len(responses.calls) == 0
    assert snapshot(oauth_connection) == before


@responses.activate
def test_it_refuses_a_state_started_by_another_user(owner_client, oauth_connection, stranger):
    state, _ = start(owner_client, oauth_connection)
    before = snapshot(oauth_connection)
    other = Client()
    other.force_login(stranger)
    response = other.get(CALLBACK, {"code": CODE, "state": state})
    assert response.status_code == 403
    assert b"another user" in response.content
    assert len(responses.calls) == 0
    assert snapshot(oauth_connection) == before
    assert PendingAuthorization.objects.get().used_at is None


@responses.activate
def test_it_refuses_a_state_started_in_another_session(owner_client, oauth_connection, owner):
    state, _ = start(owner_client, oauth_connection)
    before = snapshot(oauth_connection)
    same_user_elsewhere = Client()
    same_user_elsewhere.force_login(owner)
    response = same_user_elsewhere.get(CALLBACK, {"code": CODE, "state": state})
    assert response.status_code == 403
    assert len(responses.calls) == 0
    assert snapshot(oauth_connection) == before


@responses.activate
def test_it_refuses_an_anonymous_callback(oauth_connection, owner_client):
    state, _ = start(owner_client, oauth_connection)
    response = Client().get(CALLBACK, {"code": CODE, "state": state})
    assert response.status_code == 403
    assert b"Sign in" in response.content
    assert len(responses.calls) == 0


@responses.activate
def test_it_refuses_a_foreign_issuer(owner_client, oauth_connection):
    state, _ = start(owner_client, oauth_connection)
    before = snapshot(oauth_connection)
    response = owner_client.get(
        CALLBACK, {"code": CODE, "state": state, "iss": "https://evil.example.com"}
    )
    assert response.status_code == 303
    assert any("did not come from Front" in text for text in message_texts(response))
    assert len(responses.calls) == 0
    assert snapshot(oauth_connection) == before


@pytest.mark.parametrize(
    ("token_response", "words"),
    [
        ({"status": 400, "json": {"error": "invalid_grant"}}, "authorize the connection again"),
        ({"status": 401, "json": {"error": "invalid_client"}}, "client's credentials"),
        ({"status": 502, "json": {}}, "unavailable"),
        ({"body": requests.ReadTimeout()}, "did not answer"),
        ({"json": {"token_type": "Bearer"}}, "malformed"),
    ],
)
@responses.activate
def test_it_reports_token_endpoint_failures_and_changes_nothing(
    owner_client, oauth_connection, token_response, words
):
    state, _ = start(owner_client, oauth_connection)
    responses.post(TOKEN_URL, **token_response)
    before = snapshot(oauth_connection)
    response = owner_client.get(CALLBACK, {"code": CODE, "state": state})
    assert response.status_code == 303
    texts = message_texts(response)
    assert any(words in text for text in texts), texts
    assert snapshot(oauth_connection) == before
    failed = Event.objects.get(connection=oauth_connection, action=Action.AUTHORIZED)
    assert not failed.success
    assert_no_secret(response)


@responses.activate
def test_it_reports_me_failing_after_a_good_exchange(owner_client, oauth_connection):
    state, _ = start(owner_client, oauth_connection)
    token_ok()
    responses.get(ME_URL, status=500, json={})
    before = snapshot(oauth_connection)
    response = owner_client.get(CALLBACK, {"code": CODE, "state": state})
    assert response.status_code == 303
    assert any("GET /me" in text for text in message_texts(response))
    assert snapshot(oauth_connection) == before


@responses.activate
def test_it_refuses_a_different_front_company_and_keeps_the_old_tokens(
    owner_client, oauth_connection
):
    oauth_connection.access_token = "old-access"
    oauth_connection.refresh_token = "old-refresh"
    oauth_connection.status = Status.ONLINE
    oauth_connection.front_company_id = "cmp_old"
    oauth_connection.front_company_name = "Old Company"
    oauth_connection.save()
    state, _ = start(owner_client, oauth_connection)
    token_ok()
    me_ok(company_id="cmp_other", name="Other Company")
    before = snapshot(oauth_connection)
    response = owner_client.get(CALLBACK, {"code": CODE, "state": state})
    assert response.status_code == 303
    assert any(
        "Other Company" in text and "Old Company" in text for text in message_texts(response)
    )
    assert snapshot(oauth_connection) == before
    assert oauth_connection.access_token == "old-access"


@responses.activate
def test_it_refuses_when_the_client_changed_meanwhile(owner_client, oauth_connection):
    state, _ = start(owner_client, oauth_connection)
    oauth_connection.auth_type = "token"
    oauth_connection.save()
    response = owner_client.get(CALLBACK, {"code": CODE, "state": state})
    assert any("changed while you were in Front" in t for t in message_texts(response))
    assert len(responses.calls) == 0


def test_the_callback_is_get_only(owner_client):
    assert owner_client.post(CALLBACK, {"code": CODE, "state": "x"}).status_code == 405


def test_the_callback_url_is_named_oauth_callback():
    assert reverse("oauth:callback") == CALLBACK


@responses.activate
def test_an_unexpected_error_renders_a_page_without_the_code(
    owner_client, oauth_connection, monkeypatch
):
    state, _ = start(owner_client, oauth_connection)

    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(front, "exchange_code", explode)
    response = owner_client.get(CALLBACK, {"code": CODE, "state": state})
    # Our own failure is a server error that says so, not "Authorization refused".
    assert response.status_code == 500
    page = response.content.decode()
    assert CODE not in page and state not in page
    assert "Authorization not finished" in page and "Authorization refused" not in page
    assert "FrontConnect's side" in page or "FrontConnect&#x27;s side" in page
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.NOT_AUTHORIZED
