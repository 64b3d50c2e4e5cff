"""refreshtokens: refresh what expires within the window; several runs never refresh twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.db import connections
from django.utils import timezone

from connections import front
from connections.models import AuthType, Connection, Status
from connections.tokens import token_digest

PATCH = "connections.management.commands.refreshtokens.connection_refresh"


def due(owner, client, name: str, minutes: int, status: str = Status.ONLINE) -> Connection:
    connection = Connection(
        name=name,
        company_name="Acme",
        auth_type=AuthType.OAUTH2,
        oauth_client=client,
        owner=owner,
        status=status,
    )
    connection.access_token = f"access-{name}"
    connection.refresh_token = f"refresh-{name}"
    connection.refresh_token_digest = token_digest(f"refresh-{name}")
    connection.access_token_expires_at = timezone.now() + timedelta(minutes=minutes)
    connection.last_used_at = timezone.now()  # the refresh policy: recently used ones
    connection.save()
    return connection


def test_refreshes_only_tokens_expiring_within_window(owner, oauth_client):
    soon = due(owner, oauth_client, "soon", 5)
    later = due(owner, oauth_client, "later", 60)
    due(owner, oauth_client, "reauth", 1, status=Status.REAUTHORIZE)
    due(owner, oauth_client, "new", 1, status=Status.NOT_AUTHORIZED)
    out = StringIO()
    with mock.patch(PATCH, autospec=True, side_effect=lambda **kw: kw["connection"]) as refresh:
        call_command("refreshtokens", stdout=out)
    assert [c.kwargs["connection"] for c in refresh.call_args_list] == [soon]
    assert refresh.call_args.kwargs["source"] == "command"
    assert "Refreshed 1, failed 0." in out.getvalue()
    with mock.patch(PATCH, autospec=True, side_effect=lambda **kw: kw["connection"]) as refresh:
        call_command("refreshtokens", within=90, stdout=StringIO())
    assert {c.kwargs["connection"] for c in refresh.call_args_list} == {soon, later}


def test_failures_are_counted_and_exit_1(owner, oauth_client):
    due(owner, oauth_client, "a", 1)
    due(owner, oauth_client, "b", 2)

    def flaky(*, connection, actor=None, source, wait=True):
        if connection.name == "a":
            raise front.FrontError("Front is unavailable.", kind="unavailable")
        return connection

    err = StringIO()
    with mock.patch(PATCH, autospec=True, side_effect=flaky) as refresh:
        with pytest.raises(CommandError, match=r"Refreshed 1, failed 1\."):
            call_command("refreshtokens", stdout=StringIO(), stderr=err)
    assert refresh.call_count == 2  # the failed one is not retried in the same run
    assert "a: Front is unavailable." in err.getvalue()
    assert "refresh-a" not in err.getvalue()


def test_negative_window_is_bad_usage(db):
    with pytest.raises(CommandError) as excinfo:
        call_command("refreshtokens", within=-1, stdout=StringIO())
    assert excinfo.value.returncode == 2


def test_real_refresh_updates_tokens(owner, oauth_client):
    connection = due(owner, oauth_client, "real", 1)
    issued = front.TokenResponse(
        access_token="access-new",
        refresh_token="refresh-new",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    with mock.patch(
        "connections.front.refresh_tokens", autospec=True, return_value=issued
    ) as token_endpoint:
        call_command("refreshtokens", stdout=StringIO())
    token_endpoint.assert_called_once()
    connection.refresh_from_db()
    assert connection.access_token == "access-new" and connection.refresh_token == "refresh-new"


def test_a_connection_leased_by_another_run_is_left_to_it(owner, oauth_client):
    leased = due(owner, oauth_client, "leased", 1)
    free = due(owner, oauth_client, "free", 2)
    Connection.objects.filter(pk=leased.pk).update(
        refresh_lease_id="other-run", refresh_lease_until=timezone.now() + timedelta(seconds=30)
    )
    with mock.patch(PATCH, autospec=True, side_effect=lambda **kw: True) as refresh:
        call_command("refreshtokens", stdout=StringIO())
    assert [c.kwargs["connection"] for c in refresh.call_args_list] == [free]
    assert refresh.call_args.kwargs["wait"] is False


def test_one_row_with_characters_front_never_issues_does_not_stop_the_others(owner, oauth_client):
    broken = due(owner, oauth_client, "broken\x1b[2J", 1)
    due(owner, oauth_client, "fine", 2)
    Connection.objects.filter(pk=broken.pk).update(name="broken\x1b[2J")
    oauth_client.client_secret = "s€cret"
    oauth_client.save()
    err = StringIO()
    with pytest.raises(CommandError, match=r"Refreshed 0, failed 2\."):
        call_command("refreshtokens", stdout=StringIO(), stderr=err)
    assert "characters Front never issues" in err.getvalue()
    assert "\x1b" not in err.getvalue() and "broken\\x1b[2J" in err.getvalue()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    db_connection.vendor != "postgresql",
    reason="needs PostgreSQL: two runs on two database connections at once",
)
def test_two_runs_at_once_refresh_each_connection_exactly_once(owner, oauth_client):
    for i in range(20):
        due(owner, oauth_client, f"c{i:02d}", 1)
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def token_endpoint(*, client_id, client_secret, refresh_token, budget=None, budget_key=""):
        assert not db_connection.in_atomic_block  # Front is called outside any transaction
        with lock:
            calls[refresh_token] += 1
        time.sleep(0.02)  # keep each lease held long enough for the other run to meet it
        return front.TokenResponse(
            access_token=f"new-{refresh_token}",
            refresh_token=f"next-{refresh_token}",
            expires_at=timezone.now() + timedelta(hours=1),
        )

    barrier = threading.Barrier(2)
    outputs: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out = StringIO()
            barrier.wait()
            call_command("refreshtokens", stdout=out)
            outputs.append(out.getvalue())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    with mock.patch("connections.front.refresh_tokens", autospec=True, side_effect=token_endpoint):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert errors == []
    assert sorted(calls) == sorted(f"refresh-c{i:02d}" for i in range(20))
    assert set(calls.values()) == {1}
    refreshed = sorted(int(text.split()[1].rstrip(",")) for text in outputs)
    assert sum(refreshed) == 20 and refreshed[0] > 0  # both runs did part of the work
    assert all(c.refresh_token.startswith("next-") for c in Connection.objects.all())
    assert not Connection.objects.exclude(refresh_lease_id="").exists()


def test_it_follows_the_workers_refresh_policy(owner, oauth_client):
    """One rule with the worker (connections.upkeep): unused connections are left to refresh on
    demand, and a grant in the last week of its refresh token is kept alive."""
    due(owner, oauth_client, "used", 5)
    unused = due(owner, oauth_client, "unused", 5)
    Connection.objects.filter(pk=unused.pk).update(last_used_at=None)
    ending = due(owner, oauth_client, "ending", 50)  # not expiring within the window
    Connection.objects.filter(pk=ending.pk).update(
        last_used_at=None,
        authorized_at=timezone.now() - timedelta(days=178),
        access_token_expires_at=timezone.now() - timedelta(days=1),
    )
    with mock.patch(PATCH, autospec=True, side_effect=lambda **kw: True) as refresh:
        call_command("refreshtokens", stdout=StringIO())
    assert {c.kwargs["connection"].name for c in refresh.call_args_list} == {"used", "ending"}
