"""connections_check: concurrent checks within each company's rate budget, against the stand-in."""

from __future__ import annotations

import pytest
from django.db import connection as db_connection

from connections.checking import CheckedConnection, connections_check
from connections.models import Action, AuthType, Connection, Event, RateBudget, Source, Status
from connections.ratelimit import budget_key, budget_observe

pytestmark = pytest.mark.django_db


def make(owner, front, name: str, company: str, *, known: bool = True) -> Connection:
    """A Token connection whose token the stand-in knows as belonging to ``company``."""
    token = f"token-{name}-SECRET"
    front.api_tokens.add(token)
    front.companies[token] = (company, f"Company {company}")
    connection = Connection(name=name, company_name="x", auth_type=AuthType.TOKEN, owner=owner)
    connection.api_token = token
    if known:
        connection.front_company_id = company
    connection.save()
    return connection


def test_it_checks_every_connection_and_reports_them_in_order(front_settings, owner):
    made = [make(owner, front_settings, f"c{i}", f"cmp_{i % 3}") for i in range(6)]
    seen: list[CheckedConnection] = []
    report = connections_check(
        Connection.objects.order_by("name"),
        concurrency=1,
        source=Source.COMMAND,
        progress=seen.append,
    )
    assert [r.name for r in report.results] == [c.name for c in made]
    assert {r.status for r in report.results} == {Status.ONLINE}
    assert (report.online, report.not_online, report.deferred) == (6, 0, 0)
    assert sorted(r.connection_id for r in seen) == sorted(c.pk for c in made)
    assert front_settings.me_requests == 6
    assert Event.objects.filter(action=Action.TESTED, source=Source.COMMAND).count() == 6


def test_it_accepts_ids(front_settings, owner):
    first = make(owner, front_settings, "a", "cmp_a")
    make(owner, front_settings, "b", "cmp_a")
    report = connections_check([first.pk], concurrency=1, source=Source.WORKER)
    assert [r.connection_id for r in report.results] == [first.pk]


def test_it_defers_what_does_not_fit_without_calling_front(front_settings, owner):
    for i in range(3):
        make(owner, front_settings, f"c{i}", "cmp_full")
    Connection.objects.update(status=Status.ONLINE)
    budget_observe("company:cmp_full", {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0"})
    report = connections_check(Connection.objects.all(), concurrency=1, source=Source.WORKER)
    assert report.deferred == 3 and report.online == 0 and report.not_online == 0
    assert all(not r.checked and str(r.result).startswith("Not checked:") for r in report.results)
    assert front_settings.me_requests == 0
    assert not Event.objects.filter(action=Action.TESTED).exists()
    assert set(Connection.objects.values_list("status", flat=True)) == {Status.ONLINE}


def test_a_company_out_of_budget_does_not_hold_up_the_others(front_settings, owner):
    make(owner, front_settings, "full", "cmp_full")
    free = make(owner, front_settings, "free", "cmp_free")
    budget_observe("company:cmp_full", {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0"})
    report = connections_check(Connection.objects.all(), concurrency=1, source=Source.WORKER)
    by_name = {r.name: r for r in report.results}
    assert by_name["free"].checked and by_name["free"].status == Status.ONLINE
    assert not by_name["full"].checked
    assert front_settings.me_requests == 1
    free.refresh_from_db()
    assert free.status == Status.ONLINE


def test_it_learns_the_limit_from_the_first_answer_and_provokes_no_429(front_settings, owner):
    front_settings.rate_limit = 3
    for i in range(5):
        make(owner, front_settings, f"c{i}", "cmp_small")
    report = connections_check(Connection.objects.all(), concurrency=1, source=Source.WORKER)
    # Front says 3 a minute, so FrontConnect's half is 1: one check now, the rest deferred.
    assert front_settings.me_requests == 1 and front_settings.too_many == 0
    assert (report.online, report.deferred) == (1, 4)
    budget = RateBudget.objects.get(key="company:cmp_small")
    assert (budget.limit, budget.allowance) == (3, 1)


def test_a_429_blocks_the_company_for_retry_after(front_settings, owner):
    front_settings.rate_limit = 0  # every request is over the limit
    for i in range(3):
        make(owner, front_settings, f"c{i}", "cmp_busy")
    report = connections_check(Connection.objects.all(), concurrency=1, source=Source.WORKER)
    assert front_settings.me_requests == 1 and front_settings.too_many == 1
    assert report.deferred == 2
    budget = RateBudget.objects.get(key="company:cmp_busy")
    assert budget.blocked_until is not None


def test_connections_of_an_unknown_company_are_budgeted_by_its_name(front_settings, owner):
    connection = make(owner, front_settings, "new", "cmp_new", known=False)
    name_key = budget_key(connection)
    assert name_key.startswith("name:")
    connections_check([connection.pk], concurrency=1, source=Source.WORKER)
    assert RateBudget.objects.filter(key=name_key, used=1).exists()
    connection.refresh_from_db()
    assert connection.front_company_id == "cmp_new"
    assert budget_key(connection) == "company:cmp_new"


def cold_start(front_settings, owner, *, concurrency: int) -> None:
    """Issue 16 item 9: 80 imported connections of one company (Front's limit 50 a minute), none
    checked yet, their company name entered in several spellings: no 429."""
    front_settings.rate_limit = 50
    spellings = ["Acme", "ACME", "\uff21\uff43\uff4d\uff45", "acme\u200b"]
    for i in range(80):
        connection = make(owner, front_settings, f"c{i:02d}", "cmp_acme", known=False)
        Connection.objects.filter(pk=connection.pk).update(company_name=spellings[i % 4])
    report = connections_check(
        Connection.objects.all(), concurrency=concurrency, source=Source.WORKER
    )
    assert front_settings.too_many == 0
    # FrontConnect's half of 50 now; the rest waits for the next window, never failed.
    assert front_settings.me_requests == 25
    assert (report.online, report.deferred, report.not_online) == (25, 55, 0)


def test_a_cold_start_of_many_new_connections_of_one_company_provokes_no_429(front_settings, owner):
    cold_start(front_settings, owner, concurrency=1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    db_connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite's in-memory test database locks whole tables across threads",
)
def test_a_concurrent_cold_start_provokes_no_429(front_settings, owner):
    cold_start(front_settings, owner, concurrency=8)


def test_secrets_never_appear_in_the_report(front_settings, owner):
    connection = make(owner, front_settings, "c", "cmp_a", known=False)
    report = connections_check([connection.pk], concurrency=1, source=Source.WORKER)
    assert "SECRET" not in repr(report)
    assert not RateBudget.objects.filter(key__contains="SECRET").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    db_connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite's in-memory test database locks whole tables across threads",
)
def test_threads_check_many_companies_and_close_their_connections(front_settings, owner):
    for i in range(12):
        make(owner, front_settings, f"c{i:02}", f"cmp_{i % 4}")
    report = connections_check(Connection.objects.all(), concurrency=4, source=Source.WORKER)
    assert report.online == 12 and report.deferred == 0
    assert front_settings.me_requests == 12
    assert max(front_settings.peak_in_flight.values()) <= 4
    assert set(Connection.objects.values_list("status", flat=True)) == {Status.ONLINE}
