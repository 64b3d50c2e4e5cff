"""When the worker checks and refreshes (refresh policy), marking use, heartbeat and /healthz."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connections.beat import scheduler_lock_take
from connections.models import Connection, Status, WorkerHeartbeat
from connections.tokens import token_digest
from connections.upkeep import (
    HEARTBEAT_NAME,
    REFRESH_TOKEN_LIFETIME,
    connection_mark_used,
    connection_refresh_due,
    connections_due_check,
    connections_due_refresh,
    grant_lapses_at,
    grants_lapsing_by,
    heartbeat_record,
    spread,
    worker_state,
)

pytestmark = pytest.mark.django_db


def test_spread_is_fixed_per_connection_and_within_the_span():
    span = timedelta(minutes=36)
    values = [spread(pk, span) for pk in range(1, 200)]
    assert all(timedelta(0) <= value < span for value in values)
    assert spread(7, span) == spread(7, span)
    # Spread out, not bunched: the connections land in many different minutes.
    assert len({int(value.total_seconds() // 60) for value in values}) > 20


def checked(connection: Connection, ago: timedelta) -> None:
    Connection.objects.filter(pk=connection.pk).update(last_checked_at=timezone.now() - ago)


def test_a_connection_is_due_after_the_interval_plus_its_jitter(token_connection, settings):
    settings.FRONTCONNECT_CHECK_INTERVAL_HOURS = 6
    assert connections_due_check() == [token_connection.pk]  # never checked
    checked(token_connection, timedelta(hours=5))
    assert connections_due_check() == []
    jitter = spread(token_connection.pk, timedelta(hours=6) * 0.1)
    checked(token_connection, timedelta(hours=6) + jitter - timedelta(seconds=30))
    assert connections_due_check() == []
    checked(token_connection, timedelta(hours=6) + jitter + timedelta(seconds=30))
    assert connections_due_check() == [token_connection.pk]


def test_the_interval_is_a_setting(token_connection, settings):
    checked(token_connection, timedelta(hours=2))
    settings.FRONTCONNECT_CHECK_INTERVAL_HOURS = 6
    assert connections_due_check() == []
    settings.FRONTCONNECT_CHECK_INTERVAL_HOURS = 1
    assert connections_due_check() == [token_connection.pk]


def test_an_oauth_connection_never_authorized_is_not_checked(oauth_connection):
    assert connections_due_check() == []


def test_mark_used_writes_at_most_once_a_minute(token_connection):
    connection_mark_used(token_connection)
    first = Connection.objects.get(pk=token_connection.pk).last_used_at
    assert first is not None and token_connection.last_used_at is not None
    connection_mark_used(token_connection)
    assert Connection.objects.get(pk=token_connection.pk).last_used_at == first
    Connection.objects.filter(pk=token_connection.pk).update(
        last_used_at=timezone.now() - timedelta(minutes=5)
    )
    connection_mark_used(token_connection)
    assert Connection.objects.get(pk=token_connection.pk).last_used_at > first


def authorized(connection: Connection, *, expires_in: timedelta, obtained_ago: timedelta) -> None:
    now = timezone.now()
    connection.access_token = "at-SECRET"
    connection.refresh_token = "rt-SECRET"
    connection.refresh_token_digest = token_digest("rt-SECRET")
    connection.access_token_expires_at = now + expires_in
    connection.authorized_at = now - obtained_ago
    connection.status = Status.ONLINE
    connection.save()


def test_recently_used_connections_are_refreshed_ahead_of_expiry(oauth_connection):
    authorized(oauth_connection, expires_in=timedelta(minutes=8), obtained_ago=timedelta(days=1))
    assert connections_due_refresh() == []  # not used recently: no rotation for idle grants
    connection_mark_used(oauth_connection)
    assert connections_due_refresh() == [oauth_connection.pk]
    authorized(oauth_connection, expires_in=timedelta(minutes=50), obtained_ago=timedelta(days=1))
    assert connections_due_refresh() == []


def test_use_older_than_the_setting_does_not_count(oauth_connection, settings):
    authorized(oauth_connection, expires_in=timedelta(minutes=8), obtained_ago=timedelta(days=1))
    Connection.objects.filter(pk=oauth_connection.pk).update(
        last_used_at=timezone.now() - timedelta(hours=30)
    )
    assert connections_due_refresh() == []
    settings.FRONTCONNECT_RECENT_USE_HOURS = 48
    assert connections_due_refresh() == [oauth_connection.pk]


def test_a_grant_is_kept_alive_daily_in_the_last_week_of_its_refresh_token(oauth_connection):
    end = REFRESH_TOKEN_LIFETIME
    authorized(oauth_connection, expires_in=-timedelta(hours=30), obtained_ago=end - timedelta(8))
    assert connections_due_refresh() == []  # 8 days left: not yet
    authorized(oauth_connection, expires_in=-timedelta(hours=30), obtained_ago=end - timedelta(6))
    assert connections_due_refresh() == [oauth_connection.pk]
    # Refreshed an hour ago (the access token expires in 0 h): not again until tomorrow.
    authorized(oauth_connection, expires_in=timedelta(0), obtained_ago=end - timedelta(6))
    assert connections_due_refresh() == []


def test_a_new_refresh_token_restarts_the_grant_lifetime(oauth_connection):
    end = REFRESH_TOKEN_LIFETIME
    authorized(oauth_connection, expires_in=-timedelta(hours=30), obtained_ago=end - timedelta(6))
    Connection.objects.filter(pk=oauth_connection.pk).update(
        refresh_token_obtained_at=timezone.now() - timedelta(days=1)
    )
    assert connections_due_refresh() == []


@pytest.mark.parametrize("status", [Status.REAUTHORIZE, Status.NOT_AUTHORIZED])
def test_grants_front_refused_are_never_refreshed(oauth_connection, status):
    authorized(oauth_connection, expires_in=timedelta(minutes=1), obtained_ago=timedelta(days=179))
    connection_mark_used(oauth_connection)
    Connection.objects.filter(pk=oauth_connection.pk).update(status=status)
    assert connections_due_refresh() == []
    oauth_connection.refresh_from_db()
    assert not connection_refresh_due(oauth_connection)


def test_token_connections_are_never_refreshed(token_connection):
    connection_mark_used(token_connection)
    assert connections_due_refresh() == []
    assert not connection_refresh_due(token_connection)


def test_worker_state_follows_the_heartbeat():
    assert str(worker_state()).startswith("no heartbeat yet")
    heartbeat_record()
    assert worker_state() == "ok"
    WorkerHeartbeat.objects.filter(name=HEARTBEAT_NAME).update(
        beat_at=timezone.now() - timedelta(minutes=10)
    )
    assert worker_state() == "stale: the last heartbeat was 10 minutes ago"


def test_healthz_is_503_when_the_worker_is_silent(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"].startswith("no heartbeat yet")
    assert response.json()["database"] == "ok"
    heartbeat_record()
    scheduler_lock_take("beat on host (pid 1)")
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["worker"] == "ok"
    WorkerHeartbeat.objects.update(beat_at=timezone.now() - timedelta(minutes=4))
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["worker"].startswith("stale")


DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("authorized_ago", "obtained_ago", "lapses_in"),
    [
        (None, None, None),
        (180 * DAY, None, 2 * DAY),
        (None, 180 * DAY, 2 * DAY),
        (180 * DAY, 20 * DAY, 162 * DAY),  # a new refresh token restarts the lifetime
        (20 * DAY, 180 * DAY, 162 * DAY),  # and so does a new authorization
    ],
)
def test_a_grant_lapses_6_months_after_it_last_started(
    oauth_connection, authorized_ago, obtained_ago, lapses_in
):
    now = timezone.now()
    authorized(oauth_connection, expires_in=timedelta(hours=1), obtained_ago=timedelta(0))
    oauth_connection.authorized_at = authorized_ago and now - authorized_ago
    oauth_connection.refresh_token_obtained_at = obtained_ago and now - obtained_ago
    oauth_connection.save()

    lapses = grant_lapses_at(oauth_connection)

    assert lapses == (None if lapses_in is None else now + lapses_in)
    # The SQL form agrees with the Python one on both sides of the moment.
    for by in (now + DAY, now + 3 * DAY, now + 200 * DAY):
        listed = Connection.objects.filter(grants_lapsing_by(by)).exists()
        assert listed == (lapses is not None and lapses <= by)


def test_token_connections_and_grants_without_tokens_never_lapse(
    token_connection, oauth_connection
):
    long_ago = timezone.now() - 2 * REFRESH_TOKEN_LIFETIME
    Connection.objects.update(authorized_at=long_ago, refresh_token_obtained_at=long_ago)
    token_connection.refresh_from_db()
    oauth_connection.refresh_from_db()

    assert grant_lapses_at(token_connection) is None
    assert grant_lapses_at(oauth_connection) is None  # no refresh token
    assert not Connection.objects.filter(grants_lapsing_by(timezone.now())).exists()
