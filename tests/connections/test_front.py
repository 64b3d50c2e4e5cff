"""The Front client: URLs, token requests and their parsing, GET /me and every error."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from connections import front
from tests.conftest import CLIENT_SECRET

TOKEN_URL = "https://app.frontapp.com/oauth/token"
ME_URL = "https://api2.frontapp.com/me"
CODE = "the-auth-code-SECRET-3333"
VERIFIER = "verifier-SECRET-" + "v" * 30
REFRESH = "refresh-SECRET-4444"
ACCESS = "access-SECRET-5555"


def exchange() -> front.TokenResponse:
    return front.exchange_code(
        client_id="client-id-123",
        client_secret=CLIENT_SECRET,
        code=CODE,
        redirect_uri="https://fc.example.com/oauth/callback/",
        code_verifier=VERIFIER,
    )


def assert_no_secret(text: str) -> None:
    for secret in (CLIENT_SECRET, CODE, VERIFIER, REFRESH, ACCESS):
        assert secret not in text


def test_it_builds_the_authorize_url_with_scopes_and_pkce(settings):
    settings.FRONT_OAUTH_AUTHORIZE_URL = "https://app.frontapp.com/oauth/authorize"
    url = front.authorize_url(
        client_id="cid",
        redirect_uri="https://fc.example.com/oauth/callback/",
        state="st",
        scopes=["contacts:read", "conversations:read"],
        challenge="ch",
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == settings.FRONT_OAUTH_AUTHORIZE_URL
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["cid"],
        "redirect_uri": ["https://fc.example.com/oauth/callback/"],
        "state": ["st"],
        "scope": ["contacts:read conversations:read"],
        "code_challenge": ["ch"],
        "code_challenge_method": ["S256"],
    }


def test_it_leaves_out_pkce_without_a_challenge():
    url = front.authorize_url(client_id="c", redirect_uri="r", state="s", scopes=[], challenge=None)
    assert "code_challenge" not in url and "scope" not in url


def test_the_challenge_is_s256_of_a_43_character_verifier():
    verifier = front.code_verifier_new()
    assert len(verifier) == 43
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert front.code_challenge(verifier) == expected.decode()


@responses.activate
def test_it_exchanges_a_code_with_basic_auth_and_a_form_body():
    responses.post(
        TOKEN_URL,
        json={
            "access_token": ACCESS,
            "refresh_token": REFRESH,
            "token_type": "Bearer",
            "expires_at": 2_000_000_000,
        },
    )
    tokens = exchange()
    request = responses.calls[0].request
    expected = base64.b64encode(f"client-id-123:{CLIENT_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    body = parse_qs(request.body)
    assert body == {
        "grant_type": ["authorization_code"],
        "code": [CODE],
        "redirect_uri": ["https://fc.example.com/oauth/callback/"],
        "code_verifier": [VERIFIER],
    }
    assert "client_secret" not in request.body
    assert tokens.access_token == ACCESS and tokens.refresh_token == REFRESH
    assert tokens.expires_at.timestamp() == 2_000_000_000
    assert_no_secret(repr(tokens))


@responses.activate
def test_it_refreshes_with_the_refresh_token_grant():
    responses.post(TOKEN_URL, json={"access_token": ACCESS, "expires_at": 2_000_000_000})
    tokens = front.refresh_tokens(
        client_id="client-id-123", client_secret=CLIENT_SECRET, refresh_token=REFRESH
    )
    body = parse_qs(responses.calls[0].request.body)
    assert body == {"grant_type": ["refresh_token"], "refresh_token": [REFRESH]}
    # requests-oauthlib hands back the refresh token sent when Front issues no new one.
    assert tokens.refresh_token == REFRESH


def test_it_accepts_expires_in_and_falls_back_to_an_hour():
    now = 1_700_000_000.0
    with_in = front.parse_token_response({"access_token": "a", "expires_in": 60}, now=now)
    assert with_in.expires_at.timestamp() == now + 60
    without = front.parse_token_response({"access_token": "a"}, now=now)
    assert without.expires_at.timestamp() == now + 3600


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"refresh_token": "r"}, "no access token"),
        ({"access_token": "a", "token_type": "mac"}, "not Bearer"),
        ({"access_token": "a", "expires_at": "soon"}, "expiry is not a time"),
        ({"access_token": "a", "refresh_token": 5}, "refresh token is not text"),
    ],
)
def test_it_refuses_a_malformed_token_response(body, words):
    with pytest.raises(front.FrontError, match=words) as info:
        front.parse_token_response(body)
    assert info.value.kind == "bad_response"


@responses.activate
def test_it_refuses_a_token_response_that_is_not_json():
    responses.post(TOKEN_URL, body="<html>hello</html>")
    with pytest.raises(front.FrontError, match="not a JSON object"):
        exchange()


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (400, {"error": "invalid_grant"}, "invalid_grant", "authorize the connection again"),
        (401, {"error": "invalid_client"}, "invalid_client", "client.s credentials"),
        (400, {"error": "invalid_request"}, "refused", "invalid_request"),
        (502, {}, "unavailable", "unavailable right now"),
        (429, {}, "rate_limited", "rate limiting"),
        (302, {}, "bad_response", "redirect"),
    ],
)
@responses.activate
def test_it_explains_token_endpoint_errors(status, body, kind, words):
    responses.post(TOKEN_URL, status=status, json=body, headers={"Location": "https://evil.test/"})
    with pytest.raises(front.FrontError, match=words) as info:
        exchange()
    assert info.value.kind == kind
    # Neither redirected nor retried: a code that Front may have redeemed is never sent twice.
    assert len(responses.calls) == 1
    assert_no_secret(str(info.value))


@responses.activate
def test_a_503_from_the_token_endpoint_is_retried_twice_then_explained():
    responses.post(TOKEN_URL, status=503, json={})
    with pytest.raises(front.FrontError, match="unavailable right now") as info:
        exchange()
    assert info.value.kind == "unavailable"
    assert len(responses.calls) == 3


@responses.activate
def test_a_transient_5xx_on_get_me_is_retried_and_then_succeeds():
    responses.get(ME_URL, status=502)
    responses.get(ME_URL, json={"id": "cmp_1", "name": "Acme", "_links": {}})
    assert front.me(token=ACCESS).name == "Acme"
    assert len(responses.calls) == 2


@responses.activate
def test_it_reports_a_timeout_in_words():
    responses.post(TOKEN_URL, body=requests.ReadTimeout("read timed out " + CODE))
    with pytest.raises(
        front.FrontError, match="did not answer the token request within 10"
    ) as info:
        exchange()
    assert info.value.kind == "timeout"
    assert_no_secret(str(info.value))


@responses.activate
def test_it_reports_an_unreachable_front():
    responses.post(TOKEN_URL, body=requests.ConnectionError("refused " + CODE))
    with pytest.raises(front.FrontError, match="Could not reach Front at app.frontapp.com") as info:
        exchange()
    assert info.value.kind == "unreachable"
    assert_no_secret(str(info.value))


def test_it_uses_the_configured_timeout(settings, monkeypatch):
    settings.FRONT_HTTP_TIMEOUT = 3.5
    seen = {}

    def fake_request(method, url, **kwargs):
        seen.update(kwargs)
        raise requests.ConnectTimeout()

    monkeypatch.setattr(
        requests.Session,
        "request",
        lambda self, method, url, **kw: fake_request(method, url, **kw),
    )
    with pytest.raises(front.FrontError, match="within 3.5 seconds"):
        front.me(token=ACCESS)
    assert seen["timeout"] == 3.5 and seen["allow_redirects"] is False


@responses.activate
def test_me_returns_the_company_using_a_bearer_token():
    responses.get(ME_URL, json={"_links": {"self": "x"}, "id": "cmp_1", "name": "Dunder Mifflin"})
    assert front.me(token=ACCESS) == front.Company(id="cmp_1", name="Dunder Mifflin")
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {ACCESS}"


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "words"),
    [
        (401, {"_error": {"message": "JSON Web Token error"}}, {}, "unauthorized", "rejected"),
        (403, {"_error": {"title": "Forbidden"}}, {}, "forbidden", "lacks a permission"),
        (429, {}, {"retry-after": "30"}, "rate_limited", "try again in 30 seconds"),
        (500, {}, {}, "unavailable", "unavailable"),
        (200, {"hello": 1}, {}, "bad_response", "names no company"),
    ],
)
@responses.activate
def test_me_explains_its_errors(status, body, headers, kind, words):
    responses.get(ME_URL, status=status, json=body, headers=headers)
    with pytest.raises(front.FrontError, match=words) as info:
        front.me(token=ACCESS)
    assert info.value.kind == kind
    assert ACCESS not in str(info.value)


@responses.activate
def test_me_retries_once_after_a_short_rate_limit():
    responses.get(ME_URL, status=429, json={}, headers={"retry-after": "0.01"})
    responses.get(ME_URL, json={"id": "cmp_1", "name": "Acme"})
    started = time.monotonic()
    assert front.me(token=ACCESS).id == "cmp_1"
    assert len(responses.calls) == 2 and time.monotonic() - started >= 0.01


@responses.activate
def test_me_gives_up_on_a_long_rate_limit_with_the_wait():
    responses.get(ME_URL, status=429, json={}, headers={"retry-after": "120"})
    with pytest.raises(front.FrontError, match="120 seconds") as info:
        front.me(token=ACCESS)
    assert info.value.retry_after == 120 and len(responses.calls) == 1


def test_the_issuer_is_the_origin_of_the_authorize_url(settings):
    settings.FRONT_OAUTH_AUTHORIZE_URL = "https://app.frontapp.com/oauth/authorize"
    assert front.issuer() == "https://app.frontapp.com"
