"""The per-company rate budget: the share, learning from Front's headers, retry-after, keys."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
import responses
from django.db import connection as db_connection
from django.db import connections
from django.utils import timezone

from connections import front
from connections.models import AuthType, Connection, RateBudget
from connections.ratelimit import (
    Deferred,
    Permit,
    budget_acquire,
    budget_key,
    budget_observe,
    budget_penalise,
)
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db


def take_all(key: str, attempts: int = 500) -> int:
    granted = 0
    for _ in range(attempts):
        if isinstance(budget_acquire(key), Permit):
            granted += 1
    return granted


def test_it_grants_half_of_the_lowest_plan_before_learning_the_limit():
    assert take_all("company:cmp_1") == 25
    deferred = budget_acquire("company:cmp_1")
    assert isinstance(deferred, Deferred)
    assert deferred.key == "company:cmp_1"
    assert 0 < deferred.retry_after <= 60


def test_the_share_is_a_setting(settings):
    settings.FRONTCONNECT_RATE_SHARE = 0.2
    assert take_all("company:cmp_1") == 10


def test_budgets_of_two_companies_are_independent():
    assert take_all("company:cmp_1") == 25
    assert isinstance(budget_acquire("company:cmp_2"), Permit)


def test_it_learns_the_limit_and_reset_from_headers():
    reset = int(timezone.now().timestamp()) + 40
    budget_observe(
        "company:cmp_1",
        {
            "X-RateLimit-Limit": "200",
            "X-RateLimit-Remaining": "200",
            "X-RateLimit-Reset": str(reset),
        },
    )
    row = RateBudget.objects.get(key="company:cmp_1")
    assert (row.limit, row.allowance, row.used) == (200, 100, 0)
    assert int(row.window_reset.timestamp()) == reset
    assert take_all("company:cmp_1") == 100


def test_learning_a_higher_limit_mid_window_keeps_what_was_used():
    assert take_all("company:cmp_1", attempts=10) == 10
    budget_observe("company:cmp_1", {"x-ratelimit-limit": "100"})
    assert take_all("company:cmp_1") == 40


def test_what_other_integrations_spent_leaves_less_room():
    budget_observe("company:cmp_1", {"x-ratelimit-limit": "200", "x-ratelimit-remaining": "30"})
    assert take_all("company:cmp_1") == 30


def test_front_remaining_zero_closes_the_window():
    budget_observe("company:cmp_1", {"x-ratelimit-limit": "200", "x-ratelimit-remaining": "0"})
    assert isinstance(budget_acquire("company:cmp_1"), Deferred)


def test_malformed_headers_are_ignored():
    budget_observe(
        "company:cmp_1",
        {"x-ratelimit-limit": "lots", "x-ratelimit-remaining": "-3", "x-ratelimit-reset": "nan"},
    )
    assert not RateBudget.objects.filter(key="company:cmp_1").exists()
    budget_observe("company:cmp_1", {"x-ratelimit-limit": "0", "x-ratelimit-reset": "1"})
    row = RateBudget.objects.get(key="company:cmp_1")
    assert row.limit == 50


def test_a_past_reset_does_not_move_the_window():
    assert take_all("company:cmp_1", attempts=5) == 5
    before = RateBudget.objects.get(key="company:cmp_1").window_reset
    past = int(timezone.now().timestamp()) - 30
    budget_observe("company:cmp_1", {"x-ratelimit-reset": str(past)})
    assert RateBudget.objects.get(key="company:cmp_1").window_reset == before


def test_a_new_window_opens_when_the_old_one_ends():
    assert take_all("company:cmp_1") == 25
    RateBudget.objects.filter(key="company:cmp_1").update(
        window_reset=timezone.now() - timedelta(seconds=1)
    )
    assert take_all("company:cmp_1") == 25
    assert RateBudget.objects.get(key="company:cmp_1").used == 25


def test_retry_after_blocks_the_key_until_then():
    budget_observe("company:cmp_1", {"x-ratelimit-limit": "200"})
    budget_penalise("company:cmp_1", 30)
    deferred = budget_acquire("company:cmp_1")
    assert isinstance(deferred, Deferred)
    assert 25 < deferred.retry_after <= 30
    # A shorter retry-after never shortens the block, and a new window does not lift it.
    budget_penalise("company:cmp_1", 1)
    RateBudget.objects.filter(key="company:cmp_1").update(
        window_reset=timezone.now() - timedelta(seconds=1)
    )
    deferred = budget_acquire("company:cmp_1")
    assert isinstance(deferred, Deferred) and deferred.retry_after > 25


def test_a_passed_block_is_lifted():
    budget_penalise("company:cmp_1", 30)
    RateBudget.objects.filter(key="company:cmp_1").update(
        blocked_until=timezone.now() - timedelta(seconds=1)
    )
    assert isinstance(budget_acquire("company:cmp_1"), Permit)


def test_wait_takes_room_that_opens_within_the_bound():
    assert take_all("company:cmp_1") == 25
    RateBudget.objects.filter(key="company:cmp_1").update(
        window_reset=timezone.now() + timedelta(milliseconds=200)
    )
    assert isinstance(budget_acquire("company:cmp_1", wait=5), Permit)


def test_wait_gives_up_at_once_when_room_comes_too_late():
    budget_penalise("company:cmp_1", 30)
    assert isinstance(budget_acquire("company:cmp_1", wait=0.5), Deferred)


def test_connections_front_has_not_named_are_budgeted_by_their_normalised_company_name(
    token_connection, owner
):
    key = budget_key(token_connection)
    assert key.startswith("name:")
    assert API_TOKEN not in key and API_TOKEN[-20:] not in key
    # Another token, the same company name written differently: the same budget.
    twin = Connection(name="Twin", company_name="\uff21\uff23\uff2d\uff25\u200b ", owner=owner)
    twin.api_token = "another-token"
    twin.save()
    assert budget_key(twin) == key
    other = Connection(name="Other", company_name="Globex", auth_type=AuthType.TOKEN, owner=owner)
    other.api_token = API_TOKEN
    other.save()
    assert budget_key(other) != key

    token_connection.front_company_id = "cmp_9"
    assert budget_key(token_connection) == "company:cmp_9"


def test_without_a_company_name_the_budget_is_a_digest_of_the_token(token_connection):
    token_connection.company_name = ""
    key = budget_key(token_connection)
    assert key == front.budget_key(company_id="", token=API_TOKEN)
    assert API_TOKEN not in key


def test_name_keyed_budget_starts_at_the_lowest_plan(token_connection):
    key = budget_key(token_connection)
    assert take_all(key) == 25


def test_an_oauth_connection_without_tokens_or_name_is_keyed_by_its_id(oauth_connection):
    oauth_connection.company_name = ""
    assert budget_key(oauth_connection) == f"connection:{oauth_connection.pk}"
    oauth_connection.front_company_id = "cmp_9"
    assert budget_key(oauth_connection) == "company:cmp_9"


def test_the_installed_budget_defers_a_call_that_does_not_fit(settings):
    from connections.front_types import FrontError, FrontErrorKind

    budget_penalise("company:cmp_1", 30)
    with pytest.raises(FrontError) as excinfo:
        front.me(token="tok", budget_key="company:cmp_1")
    assert excinfo.value.kind == FrontErrorKind.RATE_LIMITED
    assert 25 < excinfo.value.retry_after <= 30


@responses.activate
def test_the_installed_budget_learns_from_answers_and_honours_429(settings):
    settings.FRONT_API_URL = "https://api2.frontapp.com"
    reset = str(int(timezone.now().timestamp()) + 50)
    headers = {
        "x-ratelimit-limit": "200",
        "x-ratelimit-remaining": "10",
        "x-ratelimit-reset": reset,
    }
    responses.get(
        "https://api2.frontapp.com/me", json={"id": "cmp_1", "name": "A"}, headers=headers
    )
    front.me(token="tok", budget_key="company:cmp_1")
    row = RateBudget.objects.get(key="company:cmp_1")
    assert (row.limit, row.allowance, row.used) == (200, 100, 90)
    responses.get(
        "https://api2.frontapp.com/me",
        status=429,
        headers={**headers, "x-ratelimit-remaining": "0", "retry-after": "40"},
    )
    with pytest.raises(front.FrontError):
        front.me(token="tok", budget_key="company:cmp_1")
    row.refresh_from_db()
    assert row.blocked_until is not None
    assert 35 < (row.blocked_until - timezone.now()).total_seconds() <= 40


def test_a_permit_taken_beforehand_pays_the_first_call_in_its_scope():
    from connections.ratelimit import budget_scope

    permit = budget_acquire("company:cmp_1")
    assert isinstance(permit, Permit)
    budget_penalise("company:cmp_1", 30)
    with budget_scope(permit=permit) as scope:
        # The permit is spent by the first call, whatever blocks the key meanwhile.
        from connections.ratelimit import DatabaseBudget

        DatabaseBudget().acquire("company:cmp_1")
        with pytest.raises(front.FrontError):
            DatabaseBudget().acquire("company:cmp_1")
    assert scope.retry_after is not None and scope.retry_after > 25


def threads_on_postgresql(test: Callable[[], None]) -> Callable[[], None]:
    """Marks a test of concurrent writers from threads: only PostgreSQL runs it."""
    for mark in (
        pytest.mark.skipif(
            db_connection.vendor != "postgresql",
            reason="needs PostgreSQL: concurrent writers from threads are what is tested",
        ),
        pytest.mark.django_db(transaction=True),
        pytest.mark.postgres,
    ):
        test = mark(test)
    return test


def race(claim: Callable[[int], int], threads: int = 8) -> list[tuple[int, int]]:
    """Run ``claim(thread number)`` on ``threads`` threads released at once, each on its own
    database connection; return (thread number, what it claimed) for each."""
    key = "company:cmp_race"
    reset = int(timezone.now().timestamp()) + 600
    budget_observe(key, {"x-ratelimit-limit": "60", "x-ratelimit-reset": str(reset)})
    barrier = threading.Barrier(threads)
    granted: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def hammer(number: int) -> None:
        try:
            barrier.wait()
            granted.append((number, claim(number)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    started = [threading.Thread(target=hammer, args=(n,)) for n in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=120)
    assert errors == []
    return granted


@threads_on_postgresql
def test_threads_together_never_exceed_the_share():
    key = "company:cmp_race"  # limit 60: share 30
    granted = race(lambda _number: take_all(key, attempts=25))
    assert sum(claimed for _, claimed in granted) == 30
    assert RateBudget.objects.get(key=key).used == 30
    assert RateBudget.objects.get(key=key).used == 30


def learn_limit(key: str, limit: int) -> None:
    budget_observe(key, {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(limit)})


def test_a_large_allowance_is_claimed_in_blocks_and_never_exceeded():
    key = "company:cmp_big"
    learn_limit(key, 200)  # allowance 100: blocks of 5
    assert isinstance(budget_acquire(key), Permit)
    used_after_first_block = RateBudget.objects.get(key=key).used
    assert used_after_first_block == 5
    for _ in range(4):  # the rest of the block: no database write
        assert isinstance(budget_acquire(key), Permit)
    assert RateBudget.objects.get(key=key).used == 5
    assert take_all(key) == 95
    assert RateBudget.objects.get(key=key).used == 100


def test_permits_held_by_one_process_count_against_every_other():
    key = "company:cmp_big"
    learn_limit(key, 200)
    assert isinstance(budget_acquire(key), Permit)  # this process holds 4 more
    from connections import ratelimit

    held = dict(ratelimit._held)
    ratelimit.budget_cache_clear()  # as seen from another process
    assert take_all(key) == 95
    ratelimit._held.update(held)
    assert take_all(key) == 4  # the first process spends what it claimed, nothing more


def test_a_429_forgets_the_permits_this_process_holds():
    key = "company:cmp_big"
    learn_limit(key, 200)
    assert isinstance(budget_acquire(key), Permit)
    budget_penalise(key, 30)
    assert isinstance(budget_acquire(key), Deferred)


def test_held_permits_expire_with_their_window():
    key = "company:cmp_big"
    learn_limit(key, 200)
    assert isinstance(budget_acquire(key), Permit)
    RateBudget.objects.filter(key=key).update(window_reset=timezone.now() - timedelta(seconds=1))
    from connections import ratelimit

    ratelimit._held[key] = (4, timezone.now() - timedelta(seconds=1))
    assert isinstance(budget_acquire(key), Permit)
    # A new window, counted from its first block; the old window's 4 were not spent in it.
    row = RateBudget.objects.get(key=key)
    assert row.used == 5
    assert ratelimit._held[key] == (4, row.window_reset)


# --- Per-route and company 429s (reference/front-api.md, rate limits) -------------------------

ROUTE_429 = {
    "x-ratelimit-limit": "100",
    "x-ratelimit-remaining": "40",
    "retry-after": "3000",
    "x-front-tier": "tier-2",
}


def report_429(key: str, headers: dict[str, str], route: str = "") -> float | None:
    from connections.front_types import RateLimit
    from connections.ratelimit import budget_report

    return budget_report(key, RateLimit.from_headers(429, headers), route=route)


def test_a_per_route_429_leaves_the_company_budget_open():
    key = "company:cmp_1"
    assert report_429(key, ROUTE_429, route="GET analytics/exports") == 3000
    assert isinstance(budget_acquire(key), Permit)
    assert RateBudget.objects.get(key=key).blocked_until is None


def test_a_429_while_the_company_has_requests_left_is_per_route_even_without_a_tier():
    key = "company:cmp_1"
    headers = {k: v for k, v in ROUTE_429.items() if k != "x-front-tier"}
    report_429(key, headers)
    assert isinstance(budget_acquire(key), Permit)


def test_a_company_429_blocks_the_company_no_longer_than_fronts_window():
    key = "company:cmp_1"
    headers = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "retry-after": "3000"}
    assert report_429(key, headers) == 60
    deferred = budget_acquire(key)
    assert isinstance(deferred, Deferred)
    assert 55 < deferred.retry_after <= 60


def test_the_installed_budget_defers_a_check_on_a_per_route_429_without_blocking_the_company():
    from connections.front_types import RateLimit
    from connections.ratelimit import DatabaseBudget, budget_scope

    with budget_scope() as scope:
        DatabaseBudget().observe("company:cmp_1", RateLimit.from_headers(429, ROUTE_429))
    assert scope.retry_after == 3000
    assert isinstance(budget_acquire("company:cmp_1"), Permit)


def test_a_per_route_429_holds_back_only_that_route_of_the_proxy():
    from connections.ratelimit import proxy_acquire

    key = "company:cmp_1"
    report_429(key, ROUTE_429, route="GET analytics/exports")
    held = proxy_acquire(key, caller="apikey:1", route="GET analytics/exports")
    assert isinstance(held, Deferred) and 2990 < held.retry_after <= 3000
    assert isinstance(proxy_acquire(key, caller="apikey:2", route="GET me"), Permit)
    assert isinstance(proxy_acquire(key, caller="apikey:1", route="GET conversations"), Permit)


# --- Fair shares: one API key, and the part kept for checks and refreshes ---------------------


def test_one_key_takes_at_most_its_part_and_the_proxy_never_takes_the_reserved_part():
    from connections.ratelimit import proxy_acquire

    key = "company:cmp_1"  # 50 a minute until Front says otherwise: FrontConnect's share is 25

    def proxied(caller: str, attempts: int = 25) -> int:
        return sum(
            isinstance(proxy_acquire(key, caller=caller, route="GET me"), Permit)
            for _ in range(attempts)
        )

    assert proxied("apikey:1") == 12  # FRONTCONNECT_KEY_SHARE 0.5 of 25
    assert proxied("apikey:2") == 8  # the proxy's part: 25 less the reserved 0.2 (5)
    assert proxied("apikey:3") == 0
    assert take_all(key) == 5  # checks and refreshes still have their reserved part
    row = RateBudget.objects.get(key=key)
    assert (row.used, row.proxy_used) == (25, 20)


def test_the_key_share_and_the_reserved_share_are_settings(settings):
    from connections.ratelimit import proxy_acquire

    settings.FRONTCONNECT_KEY_SHARE = 1.0
    settings.FRONTCONNECT_RESERVED_SHARE = 0.0
    granted = sum(
        isinstance(proxy_acquire("company:cmp_1", caller="apikey:1", route="GET me"), Permit)
        for _ in range(30)
    )
    assert granted == 25


def test_a_keys_part_follows_the_limit_front_reports():
    from connections.ratelimit import proxy_acquire

    key = "company:cmp_big"
    learn_limit(key, 200)  # share 100: one key 50, the proxy 80
    granted = sum(
        isinstance(proxy_acquire(key, caller="apikey:1", route="GET me"), Permit)
        for _ in range(100)
    )
    assert granted == 50
    assert take_all(key) == 50


def test_a_keys_part_grows_as_soon_as_front_reports_a_higher_limit():
    """A key's first calls are sized from the lowest plan; Front's first answer resizes its part
    at once, not a minute later (the proxy bench's warm-up got 429s for a minute)."""
    from connections.ratelimit import proxy_acquire

    key = "company:cmp_new"
    assert isinstance(proxy_acquire(key, caller="apikey:1", route="GET me"), Permit)
    learn_limit(key, 200)  # share 100: one key 50
    granted = 1 + sum(
        isinstance(proxy_acquire(key, caller="apikey:1", route="GET me"), Permit)
        for _ in range(100)
    )
    assert granted == 50


def test_a_keys_part_is_claimed_in_blocks_once_front_reports_a_higher_limit(
    django_assert_max_num_queries,
):
    """After the first answer raises the limit, the key's part is claimed in blocks in this
    process too: its proxied calls stop writing the part's row on every call."""
    from connections.ratelimit import proxy_acquire

    key = "company:cmp_grown"
    assert isinstance(proxy_acquire(key, caller="apikey:1", route="GET me"), Permit)
    learn_limit(key, 2000)  # share 1000: one key 500, claimed 25 at a time
    assert isinstance(proxy_acquire(key, caller="apikey:1", route="GET me"), Permit)
    # The next calls spend what the blocks hold: only the route's hold is read.
    with django_assert_max_num_queries(10):
        for _ in range(10):
            assert isinstance(proxy_acquire(key, caller="apikey:1", route="GET me"), Permit)


def test_a_process_that_did_not_learn_the_limit_claims_in_blocks_too(
    django_assert_max_num_queries,
):
    """Another process learned the higher limit: this one, which sized its blocks from the
    lowest plan on its first calls, must not go on claiming its permits one write at a time
    (the serving bench's second gunicorn process wrote two budget rows on every proxied call)."""
    from connections import ratelimit
    from connections.ratelimit import proxy_acquire

    key = "company:cmp_elsewhere"
    assert isinstance(proxy_acquire(key, caller="apikey:1", route="GET me"), Permit)
    # Another process learns 2000 (share 1000: one key 500): it writes the rows; this process's
    # memory still says the lowest plan.
    remembered = dict(ratelimit._allowances)
    learn_limit(key, 2000)
    ratelimit._allowances.update(remembered)
    ratelimit._seen.clear()
    for _ in range(3):
        assert isinstance(proxy_acquire(key, caller="apikey:1", route="GET me"), Permit)
    # The next calls spend what the blocks hold: only the route's hold is read.
    with django_assert_max_num_queries(10):
        for _ in range(10):
            assert isinstance(proxy_acquire(key, caller="apikey:1", route="GET me"), Permit)


# --- The window's rollover and the permits a process holds ---------------------------------


def test_a_window_another_process_opens_between_claim_and_read_is_used_not_waited_for():
    """The spurious proxy 429s at rollover: the claim failed because the window had just ended,
    and before this process read the row, another one opened the next window."""
    key = "company:cmp_1"
    assert take_all(key, attempts=4) == 4  # 4 of 25 used: plenty of room
    RateBudget.objects.filter(key=key).update(window_reset=timezone.now() - timedelta(seconds=1))
    acquire_while_another_process_reads_first(
        key,
        lambda: RateBudget.objects.filter(key=key).update(
            used=1, window_reset=timezone.now() + timedelta(seconds=60)
        ),
    )


def test_a_budget_another_process_creates_between_claim_and_read_is_used_not_waited_for():
    """The same race on a key's first calls (the proxy bench's warm-up answered 429 "try again
    in 61 seconds"): the claim found no row, and another process created it before the read."""
    key = "company:cmp_new"
    acquire_while_another_process_reads_first(
        key,
        lambda: RateBudget.objects.create(
            key=key,
            limit=50,
            allowance=25,
            used=1,
            window_reset=timezone.now() + timedelta(seconds=60),
        ),  # fmt: skip
    )


def acquire_while_another_process_reads_first(key: str, other: Callable[[], object]) -> None:
    """Take a permit on ``key`` while ``other`` (another process opening a window) runs just
    before this process first reads the budget row, after its claim failed: a Permit, counted."""
    done: list[bool] = []

    def other_first(execute, sql, params, many, context):
        if not done and sql.lstrip().upper().startswith("SELECT") and "ratebudget" in sql:
            done.append(True)
            other()
        return execute(sql, params, many, context)

    with db_connection.execute_wrapper(other_first):
        outcome = budget_acquire(key)
    assert done
    assert isinstance(outcome, Permit)
    assert RateBudget.objects.get(key=key).used == 2


def test_blocks_claimed_at_once_by_two_threads_of_a_process_are_both_kept():
    from connections import ratelimit

    key = "company:cmp_big"
    learn_limit(key, 200)  # allowance 100: blocks of 5
    assert isinstance(budget_acquire(key), Permit)  # claims 5, holds 4
    # Meanwhile another thread of this process claimed the next block of the same window.
    RateBudget.objects.filter(key=key).update(used=10)
    ratelimit._hold(key, 4, RateBudget.objects.get(key=key).window_reset)
    # The 8 spare permits are all held: none of what the database counts is lost.
    assert take_all(key) == 98
    assert RateBudget.objects.get(key=key).used == 100


@threads_on_postgresql
def test_threads_of_two_keys_never_exceed_their_parts_nor_the_proxys():
    from connections.ratelimit import proxy_acquire

    key = "company:cmp_race"  # limit 60, share 30: one key 15, the proxy 24 (6 kept)

    def proxied(number: int) -> int:
        caller = f"apikey:{number % 2}"
        return sum(
            isinstance(proxy_acquire(key, caller=caller, route="GET me"), Permit) for _ in range(25)
        )

    granted = race(proxied)
    per_key = [sum(claimed for n, claimed in granted if n % 2 == k) for k in (0, 1)]
    assert sum(per_key) == 24
    assert max(per_key) <= 15
    row = RateBudget.objects.get(key=key)
    assert (row.used, row.proxy_used) == (24, 24)
    assert take_all(key) == 6
