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
