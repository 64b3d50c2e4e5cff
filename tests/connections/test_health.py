"""Right statuses (issue 11 item 2): only a refused credential is Offline; the rest is retried."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
import responses
from django.utils import timezone

from connections import services
from connections.front import FrontErrorKind
from connections.health import CheckResult
from connections.models import Action, Connection, Event, Source, Status, Transition

ME_URL = "https://api2.frontapp.com/me"
TOKEN_URL = "https://app.frontapp.com/oauth/token"


@pytest.fixture(autouse=True)
def front_urls(settings):
    settings.FRONT_API_URL = "https://api2.frontapp.com"
    settings.FRONT_OAUTH_TOKEN_URL = TOKEN_URL
    settings.FRONTCONNECT_UNREACHABLE_GRACE_MINUTES = 30


@pytest.fixture
def online(token_connection):
    Connection.objects.filter(pk=token_connection.pk).update(status=Status.ONLINE)
    token_connection.refresh_from_db()
    return token_connection


def check(connection, source=Source.WORKER):
    return services.connection_check(connection=connection, actor=None, source=source)


@pytest.mark.parametrize(
    ("status", "kind"), [(401, FrontErrorKind.UNAUTHORIZED), (403, FrontErrorKind.FORBIDDEN)]
)
@responses.activate
def test_front_refusing_the_token_makes_it_offline(online, status, kind):
    responses.get(ME_URL, status=status, json={"_error": {"message": "no"}})
    outcome = check(online)
    assert outcome.result == CheckResult.REFUSED and not outcome.retryable
    assert outcome.error_kind == kind
    assert outcome.connection.status == Status.OFFLINE
    assert outcome.transition is not None and outcome.transition.new_status == Status.OFFLINE
    online.refresh_from_db()
    assert online.status == Status.OFFLINE and online.unreachable_since is None


@responses.activate
def test_invalid_grant_needs_reauthorization(oauth_connection):
    oauth_connection.access_token, oauth_connection.refresh_token = "at", "rt"
    oauth_connection.access_token_expires_at = timezone.now() - timedelta(minutes=1)
    oauth_connection.save()
    Connection.objects.filter(pk=oauth_connection.pk).update(status=Status.ONLINE)
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    outcome = check(oauth_connection)
    assert outcome.result == CheckResult.REFUSED
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.REAUTHORIZE
    assert list(Transition.objects.values_list("new_status", flat=True)) == [Status.REAUTHORIZE]


@pytest.mark.parametrize(
    ("failure", "kind", "words"),
    [
        ({"status": 500, "json": {}}, FrontErrorKind.UNAVAILABLE, "HTTP 500"),
        ({"status": 503, "json": {}}, FrontErrorKind.UNAVAILABLE, "HTTP 503"),
        ({"body": requests.ReadTimeout()}, FrontErrorKind.TIMEOUT, "did not answer"),
        ({"body": requests.ConnectionError()}, FrontErrorKind.UNREACHABLE, "Could not reach"),
    ],
)
@responses.activate
def test_an_outage_keeps_the_status_and_starts_the_clock(online, failure, kind, words):
    responses.get(ME_URL, **failure)
    outcome = check(online)
    assert outcome.result == CheckResult.UNCHECKED and outcome.retryable
    assert outcome.error_kind == kind and outcome.transition is None
    online.refresh_from_db()
    assert online.status == Status.ONLINE
    assert (
        str(online.last_check_result).startswith("Could not check: ") and words in outcome.message
    )
    assert online.unreachable_since is not None and online.last_checked_at is not None
    assert not Transition.objects.exists()


@responses.activate
def test_a_rate_limit_keeps_the_status_and_says_when_to_retry(online):
    responses.get(
        ME_URL,
        status=429,
        json={},
        headers={"retry-after": "30", "x-ratelimit-limit": "50", "x-ratelimit-remaining": "0"},
    )
    outcome = check(online)
    assert outcome.result == CheckResult.UNCHECKED and outcome.retry_after == 30
    assert outcome.error_kind == FrontErrorKind.RATE_LIMITED
    assert outcome.rate is not None and outcome.rate.limit == 50 and outcome.rate.remaining == 0
    online.refresh_from_db()
    assert online.status == Status.ONLINE
    assert "Could not check: Front is rate limiting" in online.last_check_result
    # A rate limit means Front is there: it does not count towards the grace period.
    assert online.unreachable_since is None


@responses.activate
def test_within_the_grace_period_an_outage_stays_online(online):
    since = timezone.now() - timedelta(minutes=29)
    Connection.objects.filter(pk=online.pk).update(unreachable_since=since)
    responses.get(ME_URL, status=503, json={})
    check(online)
    online.refresh_from_db()
    assert online.status == Status.ONLINE and online.unreachable_since == since


@responses.activate
def test_past_the_grace_period_an_outage_is_offline_with_the_reason(online):
    since = timezone.now() - timedelta(minutes=31)
    Connection.objects.filter(pk=online.pk).update(unreachable_since=since)
    responses.get(ME_URL, status=503, json={})
    outcome = check(online)
    assert outcome.result == CheckResult.UNCHECKED and outcome.transition is not None
    online.refresh_from_db()
    assert online.status == Status.OFFLINE
    assert str(online.last_check_result).startswith("Front has been unreachable for more than 30")
    assert "HTTP 503" in Transition.objects.get().reason


@responses.activate
def test_a_one_minute_grace_says_one_minute(online, settings):
    # Issue 19 item 5: counted with ngettext, never "1 minutes".
    settings.FRONTCONNECT_UNREACHABLE_GRACE_MINUTES = 1
    Connection.objects.filter(pk=online.pk).update(
        unreachable_since=timezone.now() - timedelta(minutes=2)
    )
    responses.get(ME_URL, status=503, json={})
    check(online)
    online.refresh_from_db()
    assert str(online.last_check_result).startswith(
        "Front has been unreachable for more than 1 minute: "
    )


@responses.activate
def test_a_definite_answer_clears_the_clock(online):
    Connection.objects.filter(pk=online.pk).update(unreachable_since=timezone.now())
    responses.get(ME_URL, json={"id": "cmp_1", "name": "Acme"})
    outcome = check(online)
    assert outcome.online and outcome.connection.front_company_id == "cmp_1"
    online.refresh_from_db()
    assert online.unreachable_since is None


@responses.activate
def test_periodic_checks_record_history_only_when_the_status_changes(online):
    responses.get(ME_URL, json={"id": "cmp_1", "name": "Acme"})
    for _ in range(3):
        check(online, source=Source.WORKER)
    assert not Event.objects.exists() and not Transition.objects.exists()
    online.refresh_from_db()
    assert online.last_check_result == "Online: Front company Acme."
    responses.replace(responses.GET, ME_URL, status=401, json={})
    check(online, source=Source.WORKER)
    assert Event.objects.filter(action=Action.TESTED).count() == 1
    assert Transition.objects.count() == 1


@responses.activate
def test_manual_checks_keep_an_event_each(online, operator):
    responses.get(ME_URL, json={"id": "cmp_1", "name": "Acme"})
    for _ in range(2):
        services.connection_check(connection=online, actor=operator, source=Source.ADMIN)
    assert Event.objects.filter(action=Action.TESTED, actor=operator).count() == 2
    assert Transition.objects.count() == 0  # Online before and after


@responses.activate
def test_a_test_by_a_person_records_the_refresh_with_its_source_and_actor(
    oauth_connection, operator
):
    """Issue 9 item 13: the refresh caused by Test in the admin is the operator's, not Worker."""
    oauth_connection.access_token, oauth_connection.refresh_token = "at", "rt"
    oauth_connection.access_token_expires_at = timezone.now() - timedelta(minutes=1)
    oauth_connection.save()
    responses.post(TOKEN_URL, json={"access_token": "new-at", "refresh_token": "new-rt"})
    responses.get(ME_URL, json={"id": "cmp_1", "name": "Acme"})
    services.connection_test(connection=oauth_connection, actor=operator, source=Source.ADMIN)
    refreshed = Event.objects.get(action=Action.REFRESHED)
    assert refreshed.source == Source.ADMIN and refreshed.actor == operator
    transition = Transition.objects.get()
    assert transition.source == Source.ADMIN and transition.actor == operator
