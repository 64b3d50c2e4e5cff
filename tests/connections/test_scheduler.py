"""One scheduler, each due item once (issue 16 item 4).

A second celery beat (an orphaned ``--beat`` child beside a restarted worker) is refused by the
scheduler lock in the database, says so in one log line, and shows in /healthz and on the
dashboard; overlapping periodic check runs claim their connections, so each is checked once.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from connections import beat, tasks, upkeep
from connections.beat import LockedDatabaseScheduler, scheduler_lock_take, scheduler_state
from connections.models import AuthType, Connection, SchedulerLock
from connections.upkeep import heartbeat_record
from frontconnect.celery import app as celery_app
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db
# django-celery-beat closes the database connection between reads, as a long-running process
# should; inside a test's transaction that would end the test's connection on PostgreSQL.
beat_process = pytest.mark.django_db(transaction=True)

FIRST = "beat on host-a (pid 101)"
SECOND = "beat on host-b (pid 202)"


def scheduler(identity: str) -> LockedDatabaseScheduler:
    made = LockedDatabaseScheduler(app=celery_app)
    made._finalize.cancel()  # no write at interpreter exit, when the test database is gone
    made.identity = identity
    return made


def run_ticks(made: LockedDatabaseScheduler, times: int = 20) -> None:
    for _ in range(times):
        made.tick()


def everything_due() -> list[str]:
    """Every periodic task last ran two days ago: each is due once now; their names."""
    PeriodicTask.objects.update(last_run_at=timezone.now() - timedelta(days=2))
    return sorted(PeriodicTask.objects.filter(enabled=True).values_list("name", flat=True))


@pytest.fixture
def sent():
    """The entries each scheduler sends, by scheduler identity (nothing reaches a broker)."""
    record: dict[str, list[str]] = {}

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        record.setdefault(self.identity, []).append(entry.name)

    with mock.patch.object(LockedDatabaseScheduler, "apply_async", autospec=True) as patched:
        patched.side_effect = apply_async
        yield record


@beat_process
def test_a_second_scheduler_sends_nothing_while_the_first_holds_the_lock(sent, caplog):
    first, second = scheduler(FIRST), scheduler(SECOND)
    due = everything_due()
    with caplog.at_level(logging.INFO, logger="connections.beat"):
        run_ticks(first)
        run_ticks(second)
        run_ticks(first)
    assert sorted(sent[FIRST]) == due  # each due task once
    assert SECOND not in sent
    refusals = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in refusals] == [
        f"Another scheduler holds the lock, so {SECOND} sends nothing and waits to take over "
        "if that one stops."
    ]
    assert scheduler_state() == (
        f"2 schedulers competing: {FIRST} sends the periodic tasks and {SECOND} is refused; "
        "stop the second one"
    )


@beat_process
def test_the_waiting_scheduler_takes_over_without_sending_anything_twice(sent):
    first, second = scheduler(FIRST), scheduler(SECOND)
    due = everything_due()
    run_ticks(first)
    run_ticks(second)
    first.close()  # stops cleanly: gives the lock up and writes its last runs
    run_ticks(second)
    assert sorted(sent[FIRST]) == due
    assert SECOND not in sent  # it read the last runs again: nothing was due a second time
    assert SchedulerLock.objects.get().holder == SECOND
    assert scheduler_state() == "ok"


@beat_process
def test_a_killed_schedulers_lease_runs_out_by_the_database_clock(sent):
    first, second = scheduler(FIRST), scheduler(SECOND)
    everything_due()
    run_ticks(first)
    # A host whose clock runs an hour ahead still sees the lease as live: the database judges.
    later = timezone.now() + timedelta(hours=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        run_ticks(second)
    assert SECOND not in sent
    # kill -9: no release, the lease is left to run out.
    SchedulerLock.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert str(scheduler_state()).startswith("none: no scheduler is running")
    due = everything_due()
    run_ticks(second)
    assert sorted(sent[SECOND]) == due


def test_healthz_and_the_dashboard_report_the_scheduler(client, operator_client):
    heartbeat_record()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["scheduler"] == (
        "none: no scheduler is running, so no periodic task is sent "
        "(start celery -A frontconnect beat)"
    )
    assert scheduler_lock_take(FIRST)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["scheduler"] == "ok"
    assert not scheduler_lock_take(SECOND)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["scheduler"].startswith(f"2 schedulers competing: {FIRST} sends")
    page = operator_client.get("/admin/").content.decode()
    assert f"2 schedulers competing: {FIRST} sends the periodic tasks and {SECOND}" in page
    # The contender stopped: its mark runs out and all is well again.
    SchedulerLock.objects.update(contender_until=timezone.now() - timedelta(seconds=1))
    assert client.get("/healthz").json()["scheduler"] == "ok"


def test_the_production_scheduler_is_the_locked_one():
    assert celery_app.conf.beat_scheduler == "connections.beat:LockedDatabaseScheduler"
    assert beat.RENEW_SECONDS * 3 <= beat.LEASE_SECONDS


def token_connections(owner, count: int) -> list[Connection]:
    made = []
    for i in range(count):
        connection = Connection(
            name=f"Inbox {i}", company_name="Acme", auth_type=AuthType.TOKEN, owner=owner
        )
        connection.api_token = API_TOKEN
        connection.save()
        made.append(connection)
    return made


def test_overlapping_check_runs_check_each_connection_once(front_settings, owner):
    front_settings.rate_limit = 10_000  # the 72 due connections fit one budget window
    token_connections(owner, 72)
    real_check = tasks.connections_check
    overlapping: list[int] = []

    def check_with_a_second_run_meanwhile(ids, **kwargs):
        if not overlapping:
            overlapping.append(0)
            # A second run starts while the first holds its connections (two beats, or a run
            # longer than its schedule): it finds nothing it may check.
            overlapping[0] = tasks.check_due()
        return real_check(ids, **kwargs)

    with mock.patch.object(
        tasks, "connections_check", side_effect=check_with_a_second_run_meanwhile
    ):
        assert tasks.check_due() == 72
    assert overlapping == [0]
    assert front_settings.me_requests == 72  # not 144
    assert not Connection.objects.exclude(check_claim="").exists()  # claims released


def test_a_run_with_a_stale_due_list_does_not_check_again(front_settings, owner):
    token_connections(owner, 4)
    stale = upkeep.connections_due_check()
    assert tasks.check_due() == 4  # another run checked them all and released its claims
    with mock.patch.object(upkeep, "connections_due_check", return_value=stale):
        assert tasks.check_due() == 0
    assert front_settings.me_requests == 4


def test_a_crashed_runs_claims_lapse(front_settings, owner):
    (connection,) = token_connections(owner, 1)
    Connection.objects.filter(pk=connection.pk).update(
        check_claim="crashed-run", check_claimed_until=timezone.now() + timedelta(minutes=5)
    )
    assert tasks.check_due() == 0
    Connection.objects.filter(pk=connection.pk).update(
        check_claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.check_due() == 1
    assert front_settings.me_requests == 1
