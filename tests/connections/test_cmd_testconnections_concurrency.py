"""testconnections --concurrency: the shared checker and budget, a summary line with counts."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db_connection

from connections.models import AuthType, Connection, Status
from connections.ratelimit import budget_observe

pytestmark = pytest.mark.django_db


def make(owner, front, name: str, company: str) -> Connection:
    token = f"token-{name}-SECRET"
    front.api_tokens.add(token)
    front.companies[token] = (company, f"Company {company}")
    connection = Connection(name=name, company_name="x", auth_type=AuthType.TOKEN, owner=owner)
    connection.api_token = token
    connection.front_company_id = company
    connection.save()
    return connection


def test_it_prints_the_table_and_a_summary_with_counts(front_settings, owner):
    for i in range(3):
        make(owner, front_settings, f"c{i}", f"cmp_{i}")
    out = StringIO()
    call_command("testconnections", "--concurrency", "2", stdout=out)
    text = out.getvalue()
    assert "NAME" in text and "c0" in text and "Online: Front company Company cmp_0." in text
    assert "Tested 3 connections in " in text
    assert "3 online, 0 not online, 0 not checked" in text
    assert "All 3 connections are online." in text
    assert "SECRET" not in text


def test_connections_the_budget_cannot_fit_are_not_checked_and_exit_1(front_settings, owner):
    make(owner, front_settings, "free", "cmp_free")
    make(owner, front_settings, "full", "cmp_full")
    Connection.objects.filter(name="full").update(status=Status.ONLINE)
    budget_observe("company:cmp_full", {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0"})
    out = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("testconnections", "--max-wait", "0", stdout=out)
    assert excinfo.value.returncode == 1
    assert "1 of 2 connections is not online." in str(excinfo.value)
    text = out.getvalue()
    assert "Not checked: FrontConnect's share of this company's Front rate limit is used up" in text
    assert "1 online, 0 not online, 1 not checked" in text
    assert front_settings.me_requests == 1
    assert Connection.objects.get(name="full").status == Status.ONLINE


def test_concurrency_must_be_positive(token_connection):
    with pytest.raises(CommandError, match="--concurrency"):
        call_command("testconnections", "--concurrency", "0", stdout=StringIO())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    db_connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite's in-memory test database locks whole tables across threads",
)
def test_concurrent_run_checks_all_on_threads(front_settings, owner):
    for i in range(8):
        make(owner, front_settings, f"c{i}", f"cmp_{i % 2}")
    out = StringIO()
    call_command("testconnections", "--concurrency", "4", stdout=out)
    assert "All 8 connections are online." in out.getvalue()
    assert front_settings.me_requests == 8
    assert set(Connection.objects.values_list("status", flat=True)) == {Status.ONLINE}
