"""The Front client's contract beyond single calls: requests-oauthlib, https rule, rate headers,
the budget hook, pooled session and text Front never issues."""

from __future__ import annotations

import base64
import os
import socket
from urllib.parse import parse_qs

import pytest
import requests
import responses
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from connections import front
from connections.front import FrontError, FrontErrorKind, RateLimit, transport
from tests.conftest import CLIENT_SECRET

TOKEN_URL = "https://app.frontapp.com/oauth/token"
ME_URL = "https://api2.frontapp.com/me"


@pytest.fixture(autouse=True)
def front_urls(settings):
    settings.FRONT_OAUTH_TOKEN_URL = TOKEN_URL
    settings.FRONT_API_URL = "https://api2.frontapp.com"


def refresh(secret: str = CLIENT_SECRET, client_id: str = "client-id-123"):
    return front.refresh_tokens(client_id=client_id, client_secret=secret, refresh_token="rt")


def test_error_kinds_are_an_enum_with_the_two_questions_callers_ask():
    assert {k.value for k in FrontErrorKind} == {
        "invalid_grant", "invalid_client", "unauthorized", "forbidden", "rate_limited",
        "unavailable", "timeout", "unreachable", "bad_response", "refused", "secret_unreadable",
    }  # fmt: skip
    # A secret that cannot be decrypted is neither Front refusing it nor worth retrying.
    refusals = {k for k in FrontErrorKind if FrontError("x", kind=k).refuses_credential}
    assert refusals == {"invalid_grant", "invalid_client", "unauthorized", "forbidden"}
    transient = {k for k in FrontErrorKind if FrontError("x", kind=k).is_transient}
    assert transient == {"rate_limited", "unavailable", "timeout", "unreachable"}
    assert str(FrontError("A sentence.", kind="timeout")) == "A sentence."


@responses.activate
def test_a_refresh_answered_with_a_redirect_is_not_followed():
    responses.post(TOKEN_URL, status=302, headers={"Location": "https://evil.test/steal"})
    responses.post("https://evil.test/steal", json={"access_token": "x"})
    with pytest.raises(FrontError, match="redirect") as info:
        refresh()
    assert info.value.kind == FrontErrorKind.BAD_RESPONSE
    assert [c.request.url for c in responses.calls] == [TOKEN_URL]


@responses.activate
def test_a_missing_token_type_is_taken_as_bearer_and_expires_at_is_kept():
    responses.post(TOKEN_URL, json={"access_token": "a", "expires_at": 2_000_000_000.25})
    tokens = refresh()
    assert tokens.access_token == "a" and tokens.expires_at.timestamp() == 2_000_000_000.25


@responses.activate
def test_the_error_envelope_of_a_token_request_becomes_a_sentence():
    responses.post(TOKEN_URL, status=404, json={"_error": {"message": "No such app"}})
    with pytest.raises(FrontError, match=r"Front refused the token request \(HTTP 404: No such"):
        refresh()


def test_plain_http_is_refused_for_any_host_but_this_machine(settings):
    settings.FRONT_OAUTH_TOKEN_URL = "http://app.frontapp.com/oauth/token"
    with pytest.raises(FrontError, match="only over https") as info:
        refresh()
    assert info.value.kind == FrontErrorKind.REFUSED
    settings.FRONT_API_URL = "http://api2.frontapp.com"
    with pytest.raises(FrontError, match="only over https"):
        front.me(token="tok")


def test_plain_http_to_loopback_works_without_setting_oauthlib_insecure_for_good(
    front_settings,
):
    seeded = front_settings.issue()
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ
    tokens = front.refresh_tokens(
        client_id="client-id-123",
        client_secret=CLIENT_SECRET,
        refresh_token=str(seeded["refresh_token"]),
    )
    assert tokens.access_token in front_settings.access_tokens
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ


def test_the_deploy_check_refuses_front_urls_that_are_not_https(settings):
    settings.FRONT_API_URL = "http://127.0.0.1:9999"
    with pytest.raises(SystemCheckError, match="FRONT_API_URL is not an https URL"):
        call_command("check", "--deploy", "--fail-level", "ERROR", tags=["security"])


@responses.activate
def test_rate_headers_ride_on_answers_and_errors():
    headers = {
        "x-ratelimit-limit": "120",
        "x-ratelimit-remaining": "7",
        "x-ratelimit-reset": "17e8",
    }
    responses.get(ME_URL, json={"id": "cmp_1", "name": "Acme"}, headers=headers)
    company = front.me(token="tok")
    assert company.rate == RateLimit(status=200, limit=120, remaining=7, reset=1.7e9)
    responses.replace(responses.GET, ME_URL, status=401, json={}, headers=headers)
    with pytest.raises(FrontError) as info:
        front.me(token="tok")
    assert info.value.rate is not None and info.value.rate.remaining == 7


class RecordingBudget:
    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[tuple[str, str, object]] = []
        self.refuse = refuse

    def acquire(self, key: str) -> None:
        self.calls.append(("acquire", key, None))
        if self.refuse:
            raise FrontError("No room in the budget.", kind="rate_limited", retry_after=12)

    def observe(self, key: str, rate: RateLimit) -> None:
        self.calls.append(("observe", key, rate.remaining))


@responses.activate
def test_every_call_draws_from_the_budget_and_reports_the_headers():
    budget = RecordingBudget()
    responses.get(ME_URL, json={"id": "c", "name": "n"}, headers={"x-ratelimit-remaining": "3"})
    responses.post(TOKEN_URL, json={"access_token": "a"}, headers={"x-ratelimit-remaining": "2"})
    front.me(token="tok", budget=budget, budget_key="company:c")
    front.refresh_tokens(
        client_id="cid", client_secret="sec", refresh_token="rt", budget=budget, budget_key="k"
    )
    assert budget.calls == [
        ("acquire", "company:c", None),
        ("observe", "company:c", 3),
        ("acquire", "k", None),
        ("observe", "k", 2),
    ]


@responses.activate
def test_the_installed_budget_can_defer_a_call_before_it_reaches_front():
    front.budget_install(RecordingBudget(refuse=True))
    try:
        with pytest.raises(FrontError, match="No room") as info:
            front.me(token="tok", budget_key=front.budget_key(company_id="", token="tok"))
    finally:
        front.budget_install(None)
    assert info.value.retry_after == 12 and len(responses.calls) == 0


def test_the_budget_key_is_the_company_or_a_digest_never_the_token():
    assert front.budget_key(company_id="cmp_1", token="tok-SECRET") == "company:cmp_1"
    key = front.budget_key(company_id="", token="tok-SECRET")
    assert key.startswith("token:") and "SECRET" not in key


@pytest.mark.parametrize("token", ["tok€uro", "tok en", "tok\nX-Injected: 1"])
@responses.activate
def test_a_token_front_never_issues_is_a_sentence_not_a_crash(token):
    with pytest.raises(FrontError, match="characters that Front never issues") as info:
        front.me(token=token)
    assert info.value.kind == FrontErrorKind.UNAUTHORIZED and token not in str(info.value)
    assert len(responses.calls) == 0


@pytest.mark.parametrize(
    ("client_id", "secret"), [("cli€nt-SECRET", "sec-SECRET"), ("client", "s€cret-SECRET")]
)
@responses.activate
def test_a_client_id_or_secret_front_never_issues_is_a_sentence(client_id, secret):
    with pytest.raises(FrontError, match="characters Front never issues") as info:
        refresh(secret=secret, client_id=client_id)
    assert info.value.kind == FrontErrorKind.INVALID_CLIENT and "SECRET" not in str(info.value)


@responses.activate
def test_api_calls_share_one_pooled_session_that_keeps_no_cookies():
    responses.get(ME_URL, json={"id": "c", "name": "n"}, headers={"Set-Cookie": "sid=abc; Path=/"})
    front.me(token="first")
    front.me(token="second")
    assert "Cookie" not in responses.calls[1].request.headers
    assert transport._api() is transport._api()
    adapter = transport._api().get_adapter("https://api2.frontapp.com/")
    assert adapter._pool_maxsize == transport.POOL_SIZE


@responses.activate
def test_api_request_passes_an_answer_through_with_its_rate():
    responses.post(
        "https://api2.frontapp.com/conversations/cnv_1/comments",
        status=201,
        json={"id": "com_1"},
        headers={"x-ratelimit-remaining": "9"},
    )
    answer = front.api_request(
        "POST",
        "/conversations/cnv_1/comments",
        token="tok",
        body=b'{"body": "hi"}',
        content_type="application/json",
    )
    assert answer.status == 201 and answer.content == b'{"id": "com_1"}'
    assert answer.rate.remaining == 9
    request = responses.calls[0].request
    assert request.headers["Authorization"] == "Bearer tok" and request.body == b'{"body": "hi"}'


@responses.activate
def test_a_refresh_that_could_not_connect_is_retried_but_a_read_timeout_is_not():
    responses.post(TOKEN_URL, body=requests.ReadTimeout())
    with pytest.raises(FrontError, match="did not answer"):
        refresh()
    assert len(responses.calls) == 1  # the refresh token may have been redeemed: never resent
    body = parse_qs(responses.calls[0].request.body)
    assert body == {"grant_type": ["refresh_token"], "refresh_token": ["rt"]}


def test_a_token_request_that_timed_out_is_never_sent_again(front_settings, settings):
    settings.FRONT_HTTP_TIMEOUT = 0.2
    front_settings.refresh_delay = 0.6
    seeded = front_settings.issue()
    with pytest.raises(FrontError, match="did not answer") as info:
        front.refresh_tokens(
            client_id="client-id-123",
            client_secret=CLIENT_SECRET,
            refresh_token=str(seeded["refresh_token"]),
        )
    assert info.value.kind == FrontErrorKind.TIMEOUT
    assert front_settings.token_requests == ["refresh_token"]


@responses.activate
def test_the_proxy_passes_a_5xx_on_at_once_where_the_api_session_retries_it():
    responses.get(ME_URL, status=502)
    answer = front.forward("GET", "me", token="tok", stream=False)
    assert answer.status == 502 and len(responses.calls) == 1
    assert transport._proxy() is transport._proxy() is not transport._api()
    with pytest.raises(FrontError):
        front.me(token="tok")
    assert len(responses.calls) == 1 + 3


def test_a_proxied_request_front_never_answers_is_a_timeout(settings):
    # A listening socket nobody accepts from: the connection opens, no answer ever comes.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        settings.FRONT_API_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings.FRONT_HTTP_TIMEOUT = 0.2
        with pytest.raises(FrontError) as info:
            front.forward("GET", "me", token="tok")
    assert info.value.kind == FrontErrorKind.TIMEOUT


# Issue 15 item 10: RFC 6749 §2.3.1 client authentication.
AWKWARD_SECRET = "s+cr%t&x=y:z-SECRET"


def test_the_basic_credentials_are_form_urlencoded_first_per_rfc_6749():
    from urllib.parse import quote_plus

    from connections.front.oauth import client_basic_auth

    request = requests.Request("POST", TOKEN_URL).prepare()
    client_basic_auth("id:1 +é", "s+cr%t&x=y:z é").__call__(request)
    encoded = "id%3A1+%2B%C3%A9:s%2Bcr%25t%26x%3Dy%3Az+%C3%A9"
    assert encoded == quote_plus("id:1 +é", safe="") + ":" + quote_plus("s+cr%t&x=y:z é", safe="")
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(
        encoded.encode("ascii")
    ).decode("ascii")


@responses.activate
def test_a_token_request_sends_a_secret_with_reserved_characters_form_urlencoded():
    responses.post(TOKEN_URL, json={"access_token": "a", "expires_at": 2_000_000_000})
    refresh(secret=AWKWARD_SECRET)
    header = responses.calls[0].request.headers["Authorization"]
    decoded = base64.b64decode(header.removeprefix("Basic ")).decode("ascii")
    assert decoded == "client-id-123:s%2Bcr%25t%26x%3Dy%3Az-SECRET"


def test_a_conforming_server_accepts_a_secret_with_reserved_characters(settings):
    from tests.front_standin import StandinFront, standin_serve

    standin = StandinFront(client_id="client-id-123", client_secret=AWKWARD_SECRET)
    standin.refresh_tokens.add("rt-1")
    server = standin_serve(standin)
    try:
        settings.FRONT_OAUTH_TOKEN_URL = standin.token_url
        tokens = front.refresh_tokens(
            client_id="client-id-123", client_secret=AWKWARD_SECRET, refresh_token="rt-1"
        )
    finally:
        server.shutdown()
        server.server_close()
    assert tokens.access_token and standin.token_requests == ["refresh_token"]


@responses.activate
def test_invalid_client_says_front_refused_the_credentials_not_that_the_secret_is_wrong():
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    with pytest.raises(FrontError) as info:
        refresh()
    message = str(info.value)
    assert info.value.kind == FrontErrorKind.INVALID_CLIENT
    assert "Front refused the OAuth 2.0 client's credentials" in message
    assert "encoded" in message and "check its client ID and client secret" not in message
