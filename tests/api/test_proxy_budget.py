"""The proxy draws on the company's shared rate budget (connections.ratelimit)."""

from __future__ import annotations

import pytest

from connections import ratelimit
from connections.models import Connection

pytestmark = pytest.mark.django_db


def url(connection) -> str:
    return f"/api/v1/connections/{connection.pk}/front/me"


@pytest.fixture
def no_wait(settings):
    settings.FRONTCONNECT_PROXY_BUDGET_WAIT = 0
    ratelimit.budget_cache_clear()


def test_a_spent_budget_answers_429_and_nothing_reaches_front(
    full_api, token_connection, echo_front, no_wait
):
    Connection.objects.filter(pk=token_connection.pk).update(front_company_id="cmp_spent")
    token_connection.refresh_from_db()
    key = ratelimit.budget_key(token_connection)
    while isinstance(ratelimit.budget_acquire(key), ratelimit.Permit):
        pass
    response = full_api.get(url(token_connection))
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert echo_front.seen == []


def test_a_429_from_front_holds_the_next_calls_back(
    full_api, token_connection, echo_front, no_wait
):
    echo_front.statuses = [429]
    echo_front.extra_headers = {"Retry-After": "30"}
    first = full_api.get(url(token_connection))
    assert first.status_code == 429
    b"".join(first.streaming_content)  # the answer is sent: the budget hears of the 429
    second = full_api.get(url(token_connection))
    assert second.status_code == 429
    assert len(echo_front.seen) == 1


def test_the_proxy_learns_the_limit_from_fronts_headers(
    full_api, token_connection, echo_front, no_wait
):
    b"".join(full_api.get(url(token_connection)).streaming_content)
    key = ratelimit.budget_key(token_connection)
    row = ratelimit.RateBudget.objects.get(key=key)
    assert row.limit == 100


def test_a_per_route_429_is_passed_back_and_holds_back_only_that_route(
    full_api, token_connection, echo_front, no_wait
):
    echo_front.statuses = [429]
    echo_front.rate_headers = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "40"}
    echo_front.extra_headers = {"Retry-After": "3000", "x-front-tier": "tier-2"}
    first = full_api.get(url(token_connection))
    assert first.status_code == 429
    assert first["Retry-After"] == "3000" and first["x-front-tier"] == "tier-2"
    b"".join(first.streaming_content)
    # The same route waits what Front asked, without reaching Front again ...
    again = full_api.get(url(token_connection))
    assert again.status_code == 429
    assert 2990 <= int(again["Retry-After"]) <= 3000
    # It says what is held back: this route, not the company's budget.
    assert again.json()["error"].startswith("Front limits this route (method and path)")
    assert "company's request budget is used up" not in again.json()["error"]
    assert len(echo_front.seen) == 1
    # ... while the company's other routes, and its checks and refreshes, go on.
    echo_front.extra_headers = {}
    other = full_api.get(f"/api/v1/connections/{token_connection.pk}/front/conversations")
    assert other.status_code == 200
    b"".join(other.streaming_content)
    key = ratelimit.budget_key(token_connection)
    assert isinstance(ratelimit.budget_acquire(key), ratelimit.Permit)


def test_a_company_429_holds_the_company_back_no_longer_than_fronts_window(
    full_api, token_connection, echo_front, no_wait
):
    echo_front.statuses = [429]
    echo_front.rate_headers = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0"}
    echo_front.extra_headers = {"Retry-After": "3000"}
    b"".join(full_api.get(url(token_connection)).streaming_content)
    second = full_api.get(f"/api/v1/connections/{token_connection.pk}/front/conversations")
    assert second.status_code == 429
    assert 1 <= int(second["Retry-After"]) <= 60
    assert second.json()["error"].startswith("This Front company's request budget is used up")
    assert len(echo_front.seen) == 1


def test_one_key_cannot_spend_the_share_a_refresh_needs(
    front_settings, expired_oauth_connection, echo_front, make_key, api, token_connection, no_wait
):
    """Issue 15 item 4: 25 proxied calls of one key, then another service's access token that
    needs a refresh, on a company whose limit is 50 a minute (FrontConnect's share 25)."""
    echo_front.rate_headers = {"x-ratelimit-limit": "50"}
    oauth_connection = expired_oauth_connection
    Connection.objects.filter(pk__in=[token_connection.pk, oauth_connection.pk]).update(
        front_company_id="cmp_shared"
    )
    busy = api(make_key(["proxy"]).plaintext)
    answered, refusals = [], set()
    for _ in range(25):
        response = busy.get(url(token_connection))
        answered.append(response.status_code)
        if response.status_code == 200:
            b"".join(response.streaming_content)
        else:
            refusals.add(response.json()["error"].split(":")[0])
    assert answered.count(200) == 12  # FRONTCONNECT_KEY_SHARE: half of FrontConnect's 25
    assert set(answered) == {200, 429}
    # The refusal names the key's part, not the company's whole budget.
    assert refusals == {
        "This API key has used its part of the Front company's request budget for now"
    }
    other = api(make_key(["token"]).plaintext)
    response = other.post(f"/api/v1/connections/{oauth_connection.pk}/access-token/")
    assert response.status_code == 200
    assert front_settings.refresh_count() == 1
