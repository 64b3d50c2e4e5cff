"""The worker's tasks: periodic checks and refreshes, pruning, heartbeat, and their retries."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection as db_connection
from django.db import connections
from django.utils import timezone

from connections import tasks
from connections.models import Action, AuthType, Connection, Event, Status, WorkerHeartbeat
from connections.tokens import token_digest
from connections.upkeep import connection_mark_used

pytestmark = pytest.mark.django_db


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_check_due_checks_what_is_due_and_nothing_else(front_settings, token_connection, owner):
    fresh = Connection(name="Fresh", company_name="Acme", auth_type=AuthType.TOKEN, owner=owner)
    fresh.api_token = "tok-fresh"
    fresh.last_checked_at = timezone.now()
    fresh.save()
    assert tasks.check_due() == 1
    token_connection.refresh_from_db()
    assert token_connection.status == Status.ONLINE
    assert front_settings.me_requests == 1
    assert tasks.check_due() == 0


def test_check_due_retries_with_backoff_what_front_could_not_answer(settings, token_connection):
    settings.FRONT_API_URL = closed_port_url()
    with mock.patch.object(tasks.check_connection, "apply_async") as queued:
        tasks.check_due()
    queued.assert_called_once()
    assert queued.call_args.args == ((token_connection.pk,),)
    assert 60 <= queued.call_args.kwargs["countdown"] <= 120
    token_connection.refresh_from_db()
    assert token_connection.status == Status.UNCHECKED  # a network error decides nothing


def test_check_connection_raises_to_retry_when_front_cannot_be_asked(settings, token_connection):
    settings.FRONT_API_URL = closed_port_url()
    with pytest.raises(tasks.CheckNotDone):
        tasks.check_connection(token_connection.pk)
    assert tasks.check_connection.autoretry_for == (tasks.CheckNotDone,)
    assert tasks.check_connection.retry_backoff and tasks.check_connection.retry_jitter


def test_check_connection_returns_the_status(front_settings, token_connection):
    assert tasks.check_connection(token_connection.pk) == Status.ONLINE
    assert tasks.check_connection(999_999) == "gone"


def due_for_refresh(connection: Connection, front) -> None:
    seeded = front.issue()
    connection.access_token = str(seeded["access_token"])
    connection.refresh_token = str(seeded["refresh_token"])
    connection.refresh_token_digest = token_digest(str(seeded["refresh_token"]))
    connection.access_token_expires_at = timezone.now() + timedelta(minutes=3)
    connection.authorized_at = timezone.now() - timedelta(days=1)
    connection.status = Status.ONLINE
    connection.save()
    connection_mark_used(connection)


def test_refresh_connection_refreshes_once_while_due(front_settings, oauth_connection):
    due_for_refresh(oauth_connection, front_settings)
    assert tasks.refresh_connection(oauth_connection.pk) is True
    assert tasks.refresh_connection(oauth_connection.pk) is False  # no longer due
    assert front_settings.refresh_count() == 1
    oauth_connection.refresh_from_db()
    assert oauth_connection.access_token_expires_at > timezone.now() + timedelta(minutes=30)
    # The stand-in rotates refresh tokens: a new grant lifetime starts.
    assert oauth_connection.refresh_token_obtained_at is not None


def test_refresh_connection_records_a_refused_grant_without_retrying(
    front_settings, oauth_connection
):
    due_for_refresh(oauth_connection, front_settings)
    front_settings.refresh_tokens.clear()  # Front forgot the grant: invalid_grant
    assert tasks.refresh_connection(oauth_connection.pk) is False
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.REAUTHORIZE


def test_refresh_connection_raises_to_retry_when_front_is_unreachable(
    settings, front_settings, oauth_connection
):
    due_for_refresh(oauth_connection, front_settings)
    settings.FRONT_OAUTH_TOKEN_URL = closed_port_url() + "/oauth/token"
    with pytest.raises(tasks.RefreshNotDone):
        tasks.refresh_connection(oauth_connection.pk)
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.ONLINE
    assert tasks.refresh_connection.autoretry_for == (tasks.RefreshNotDone,)


def test_refresh_due_queues_each_due_refresh_now_without_a_countdown(
    front_settings, oauth_connection, owner
):
    due_for_refresh(oauth_connection, front_settings)
    with mock.patch.object(tasks.refresh_connection, "apply_async") as queued:
        assert tasks.refresh_due() == 1
    assert queued.call_args.args == ((oauth_connection.pk,),)
    assert "countdown" not in queued.call_args.kwargs  # a held message dies with the broker


def test_history_prune_old_deletes_what_is_past_retention(token_connection, settings):
    settings.FRONTCONNECT_HISTORY_RETENTION_DAYS = 30
    old = Event.objects.create(
        connection=token_connection,
        connection_name="x",
        action=Action.TESTED,
        source="worker",
        created_at=timezone.now() - timedelta(days=31),
    )
    recent = Event.objects.create(
        connection=token_connection, connection_name="x", action=Action.TESTED, source="worker"
    )
    assert tasks.history_prune_old() == 1
    assert not Event.objects.filter(pk=old.pk).exists()
    assert Event.objects.filter(pk=recent.pk).exists()


def test_heartbeat_records_the_time():
    tasks.heartbeat()
    first = WorkerHeartbeat.objects.get().beat_at
    tasks.heartbeat()
    assert WorkerHeartbeat.objects.count() == 1
    assert WorkerHeartbeat.objects.get().beat_at >= first


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    db_connection.vendor != "postgresql",
    reason="needs PostgreSQL: two workers on two database connections at once",
)
def test_two_workers_racing_refresh_one_token_once(front_settings, oauth_connection):
    due_for_refresh(oauth_connection, front_settings)
    front_settings.refresh_delay = 0.3  # keeps the race window open
    barrier = threading.Barrier(2)
    results: list[bool] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(tasks.refresh_connection(oauth_connection.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(results) == [False, True]
    assert front_settings.refresh_count() == 1
    assert Event.objects.filter(action=Action.REFRESHED, success=True).count() == 1
