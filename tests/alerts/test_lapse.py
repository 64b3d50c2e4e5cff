"""The owner hears 14 days before a grant lapses, once per grant, through a real SMTP server."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from alerts import tasks
from alerts.lapse import grants_lapse_warn
from alerts.models import AlertPreference, LapseWarning, NoticeState
from connections.models import Connection, Status
from connections.tokens import token_digest
from connections.upkeep import REFRESH_TOKEN_LIFETIME, grant_lapses_at
from tests.alerts.conftest import body_of
from tests.conftest import API_TOKEN, CLIENT_SECRET

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("celery_eager", "base_url"),
]

ACCESS_TOKEN = "at-SECRET-3333"
REFRESH_TOKEN = "rt-SECRET-4444"


@pytest.fixture
def base_url(settings):
    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"


def granted(connection: Connection, *, lapses_in: timedelta, now: datetime) -> Connection:
    """Give the connection tokens from a grant that lapses ``lapses_in`` after ``now``."""
    connection.access_token = ACCESS_TOKEN
    connection.refresh_token = REFRESH_TOKEN
    connection.refresh_token_digest = token_digest(REFRESH_TOKEN)
    connection.access_token_expires_at = now + timedelta(hours=1)
    connection.authorized_at = now + lapses_in - REFRESH_TOKEN_LIFETIME
    connection.refresh_token_obtained_at = None
    connection.status = Status.ONLINE
    connection.save()
    return connection


@pytest.fixture
def now() -> datetime:
    return timezone.now()


@pytest.fixture
def lapsing(oauth_connection, now):
    return granted(oauth_connection, lapses_in=timedelta(days=10), now=now)


def test_a_grant_lapsing_in_10_days_is_warned_once(smtp_server, lapsing, now):
    assert grants_lapse_warn(now=now) == 1

    (message,) = smtp_server.messages
    lapses = grant_lapses_at(lapsing)
    assert lapses is not None
    assert smtp_server.envelopes[0][1] == ["alice@example.com"]
    assert message["Subject"] == f"FrontConnect: authorize Sales inbox again before {lapses:%F}"
    body = body_of(message)
    assert f"Front's authorization of Sales inbox lapses around {lapses:%Y-%m-%d %H:%M} UTC" in body
    assert "authorize it again on its page:" in body
    assert f"https://fc.example.com/connections/{lapsing.pk}/" in body
    warning = LapseWarning.objects.get()
    assert (warning.connection, warning.user, warning.lapses_at) == (lapsing, lapsing.owner, lapses)
    assert warning.state == NoticeState.SENT and warning.attempts == 1

    assert grants_lapse_warn(now=now) == 0
    assert grants_lapse_warn(now=now + timedelta(days=1)) == 0
    assert len(smtp_server.messages) == 1
    assert LapseWarning.objects.count() == 1


def test_the_daily_task_warns_and_a_second_run_sends_nothing(smtp_server, lapsing):
    assert tasks.grants_lapse_warn.delay().get() == 1
    assert tasks.grants_lapse_warn.delay().get() == 0
    assert len(smtp_server.messages) == 1


def test_a_grant_lapsing_in_30_days_is_not_warned_yet(smtp_server, oauth_connection, now):
    granted(oauth_connection, lapses_in=timedelta(days=30), now=now)

    assert grants_lapse_warn(now=now) == 0
    assert grants_lapse_warn(now=now + timedelta(days=15)) == 0
    assert smtp_server.messages == []
    assert grants_lapse_warn(now=now + timedelta(days=17)) == 1


def test_a_grant_that_has_lapsed_already_is_not_warned(smtp_server, oauth_connection, now):
    granted(oauth_connection, lapses_in=-timedelta(hours=1), now=now)

    assert grants_lapse_warn(now=now) == 0
    assert smtp_server.messages == []


@pytest.mark.parametrize("renewed", ["refresh_token_obtained_at", "authorized_at"])
def test_a_new_grant_after_the_warning_is_warned_again(smtp_server, lapsing, now, renewed):
    first_lapse = grant_lapses_at(lapsing)
    assert grants_lapse_warn(now=now) == 1
    # A new refresh token from the keep-alive, or a new authorization, starts a new lifetime.
    renewed_at = now + timedelta(days=5)
    Connection.objects.filter(pk=lapsing.pk).update(**{renewed: renewed_at})
    new_lapse = renewed_at + REFRESH_TOKEN_LIFETIME

    assert grants_lapse_warn(now=now + timedelta(days=6)) == 0  # the new grant is months away
    assert grants_lapse_warn(now=new_lapse - timedelta(days=13)) == 1
    assert grants_lapse_warn(now=new_lapse - timedelta(days=12)) == 0

    assert len(smtp_server.messages) == 2
    assert f"before {new_lapse:%Y-%m-%d}" in smtp_server.messages[1]["Subject"]
    assert sorted(LapseWarning.objects.values_list("lapses_at", flat=True)) == [
        first_lapse,
        new_lapse,
    ]


def test_token_connections_and_oauth_connections_without_tokens_are_ignored(
    smtp_server, token_connection, oauth_connection, now
):
    old = now - REFRESH_TOKEN_LIFETIME + timedelta(days=5)
    Connection.objects.filter(pk=token_connection.pk).update(
        status=Status.ONLINE, authorized_at=old, refresh_token_obtained_at=old
    )
    # Authorized once, then disconnected: the grant's tokens are gone, so nothing can lapse.
    Connection.objects.filter(pk=oauth_connection.pk).update(
        status=Status.ONLINE, authorized_at=old, refresh_token_digest=""
    )

    assert grants_lapse_warn(now=now) == 0
    assert smtp_server.messages == []
    assert not LapseWarning.objects.exists()


@pytest.mark.parametrize("status", [Status.REAUTHORIZE, Status.NOT_AUTHORIZED])
def test_grants_front_refused_already_are_not_warned(smtp_server, lapsing, now, status):
    Connection.objects.filter(pk=lapsing.pk).update(status=status)

    assert grants_lapse_warn(now=now) == 0
    assert smtp_server.messages == []
    assert not LapseWarning.objects.exists()


def test_an_offline_connection_is_still_warned(smtp_server, lapsing, now):
    # Offline may be Front being unreachable; the grant lapses all the same.
    Connection.objects.filter(pk=lapsing.pk).update(status=Status.OFFLINE)

    assert grants_lapse_warn(now=now) == 1


def test_no_secret_is_in_the_message(smtp_server, lapsing, now, operator):
    lapsing.api_token = API_TOKEN  # left over from before it switched to OAuth
    lapsing.save()
    AlertPreference.objects.create(user=operator, all_connections=True)

    assert grants_lapse_warn(now=now) == 2

    for message in smtp_server.messages:
        text = message.as_string()
        for secret in (ACCESS_TOKEN, REFRESH_TOKEN, token_digest(REFRESH_TOKEN), CLIENT_SECRET):
            assert secret not in text
        assert API_TOKEN not in text


def test_subscribed_operators_get_the_admin_link_and_owners_can_opt_out(
    smtp_server, lapsing, now, operator, owner
):
    AlertPreference.objects.create(user=operator, all_connections=True)
    AlertPreference.objects.create(user=owner, email_enabled=False)

    assert grants_lapse_warn(now=now) == 1

    (message,) = smtp_server.to("op@example.com")
    body = body_of(message)
    assert f"https://fc.example.com/admin/connections/connection/{lapsing.pk}/change/" in body
    assert "Ask the owner to authorize it again" in body
    assert smtp_server.to("alice@example.com") == []


def test_a_refused_email_is_retried_and_sent_once(smtp_server, lapsing):
    smtp_server.refuse = 1

    assert tasks.grants_lapse_warn.delay().get() == 1

    assert smtp_server.refused == 1
    assert len(smtp_server.messages) == 1
    warning = LapseWarning.objects.get()
    assert warning.state == NoticeState.SENT and warning.attempts == 2


def test_a_warning_not_sent_before_the_grant_changed_is_skipped(smtp_server, lapsing, now):
    smtp_server.refuse = 1
    with pytest.raises(OSError):
        grants_lapse_warn(now=now)
    # Authorized again before the retry: the pending warning is about a grant that is gone.
    Connection.objects.filter(pk=lapsing.pk).update(authorized_at=now)

    assert grants_lapse_warn(now=now) == 0

    assert smtp_server.messages == []
    warning = LapseWarning.objects.get()
    assert warning.state == NoticeState.SKIPPED and "authorized again" in warning.note
