"""Starting Save and authorize: the state, PKCE and the authorize URL."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from connections import authorization
from connections.models import AuthType, PendingAuthorization, Source


@pytest.fixture
def session(owner):
    client = Client()
    client.force_login(owner)
    return client.session


def start(connection, session, **kwargs):
    options = {"return_url": f"/connections/{connection.pk}/", "source": Source.SELF_SERVICE}
    options.update(kwargs)
    return authorization.connection_authorize_start(
        connection=connection, user=connection.owner, session=session, **options
    )


def test_it_stores_only_a_hash_of_a_long_random_state(oauth_connection, session, settings):
    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"
    url = start(oauth_connection, session)
    query = parse_qs(urlsplit(url).query)
    state = query["state"][0]
    assert len(state) >= 43  # 32 random bytes
    pending = PendingAuthorization.objects.get()
    assert pending.state_hash == hashlib.sha256(state.encode()).hexdigest()
    assert pending.user == oauth_connection.owner
    assert pending.oauth_client == oauth_connection.oauth_client
    assert pending.redirect_uri == "https://fc.example.com/oauth/callback/"
    assert pending.session_key_hash == hashlib.sha256(session.session_key.encode()).hexdigest()
    assert pending.used_at is None
    assert query["redirect_uri"] == ["https://fc.example.com/oauth/callback/"]
    assert query["client_id"] == ["client-id-123"]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["contacts:read conversations:read"]
    verifier = pending.code_verifier
    assert len(verifier) == 43 and verifier not in url
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert query["code_challenge"] == [challenge.decode()]
    assert query["code_challenge_method"] == ["S256"]


def test_each_start_gets_a_new_state(oauth_connection, session):
    first, second = start(oauth_connection, session), start(oauth_connection, session)
    assert parse_qs(urlsplit(first).query)["state"] != parse_qs(urlsplit(second).query)["state"]


def test_pkce_can_be_switched_off(oauth_connection, session, settings):
    settings.FRONT_OAUTH_PKCE = False
    url = start(oauth_connection, session)
    assert "code_challenge" not in url
    assert PendingAuthorization.objects.get().code_verifier == ""


def test_it_refuses_a_token_connection(token_connection, session):
    with pytest.raises(authorization.AuthorizationError, match="Only OAuth 2.0"):
        start(token_connection, session)
    assert not PendingAuthorization.objects.exists()


def test_it_refuses_a_client_without_a_secret(oauth_connection, session):
    oauth_connection.oauth_client.client_secret = ""
    oauth_connection.oauth_client.save()
    with pytest.raises(authorization.AuthorizationError, match="no readable client secret"):
        start(oauth_connection, session)


@pytest.mark.parametrize(
    "url", ["https://evil.example.com/", "//evil.example.com/", "javascript:x"]
)
def test_it_refuses_a_return_url_off_this_site(oauth_connection, session, url):
    with pytest.raises(authorization.AuthorizationError, match="not on this site"):
        start(oauth_connection, session, return_url=url)
    assert not PendingAuthorization.objects.exists()


def test_it_gives_a_session_without_a_key_one(oauth_connection):
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    start(oauth_connection, session)
    assert session.session_key


def test_the_error_is_a_validation_error_with_a_plain_text(oauth_connection, session):
    oauth_connection.auth_type = AuthType.TOKEN
    with pytest.raises(authorization.AuthorizationError) as info:
        start(oauth_connection, session)
    assert str(info.value).startswith("Only OAuth 2.0") and info.value.messages == [str(info.value)]


def test_many_authorize_clicks_keep_a_few_open_authorizations(oauth_connection, session):
    states = [
        parse_qs(urlsplit(start(oauth_connection, session)).query)["state"][0] for _ in range(200)
    ]
    kept = PendingAuthorization.objects.filter(user=oauth_connection.owner)
    assert kept.count() == authorization.MAX_OPEN_PER_USER == 5
    # The newest ones stay (the tab the person is looking at can still finish); the oldest went.
    hashes = {hashlib.sha256(state.encode()).hexdigest() for state in states[-5:]}
    assert set(kept.values_list("state_hash", flat=True)) == hashes


def test_the_bound_is_per_user(oauth_connection, session, stranger, operator):
    for _ in range(7):
        start(oauth_connection, session)
    authorization.connection_authorize_start(
        connection=oauth_connection,
        user=operator,
        session=session,
        return_url="/admin/",
        source=Source.ADMIN,
    )
    assert PendingAuthorization.objects.filter(user=operator).count() == 1
    assert PendingAuthorization.objects.filter(user=oauth_connection.owner).count() == 5
