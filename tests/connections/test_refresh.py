"""A valid access token on demand: refresh near expiry, rotation, and failures."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import requests
import responses
from django.utils import timezone

from connections import front, services
from connections.models import Action, Event, Source, Status

TOKEN_URL = "https://app.frontapp.com/oauth/token"
OLD_ACCESS, OLD_REFRESH = "old-access-SECRET", "old-refresh-SECRET"
NEW_ACCESS, NEW_REFRESH = "new-access-SECRET", "new-refresh-SECRET"


@pytest.fixture(autouse=True)
def front_urls(settings):
    settings.FRONT_OAUTH_TOKEN_URL = TOKEN_URL


@pytest.fixture
def authorized(oauth_connection):
    oauth_connection.access_token = OLD_ACCESS
    oauth_connection.refresh_token = OLD_REFRESH
    oauth_connection.access_token_expires_at = timezone.now() + timedelta(minutes=4)
    oauth_connection.status = Status.ONLINE
    oauth_connection.front_company_id = "cmp_1"
    oauth_connection.save()
    return oauth_connection


def new_tokens(refresh: str | None = NEW_REFRESH) -> None:
    body = {"access_token": NEW_ACCESS, "token_type": "Bearer"}
    body["expires_at"] = int((timezone.now() + timedelta(hours=1)).timestamp())
    if refresh:
        body["refresh_token"] = refresh
    responses.post(TOKEN_URL, json=body)


def stored(connection):
    connection.refresh_from_db()
    return connection.access_token, connection.refresh_token, connection.status


@responses.activate
def test_it_returns_a_fresh_token_without_calling_front(authorized):
    authorized.access_token_expires_at = timezone.now() + timedelta(minutes=6)
    authorized.save()
    assert services.connection_access_token(connection=authorized) == OLD_ACCESS
    assert len(responses.calls) == 0


@responses.activate
def test_it_refreshes_a_token_expiring_within_five_minutes(authorized):
    new_tokens()
    assert services.connection_access_token(connection=authorized) == NEW_ACCESS
    assert parse_qs(responses.calls[0].request.body)["refresh_token"] == [OLD_REFRESH]
    assert stored(authorized) == (NEW_ACCESS, NEW_REFRESH, Status.ONLINE)
    assert authorized.access_token_expires_at > timezone.now() + timedelta(minutes=55)
    event = Event.objects.get(action=Action.REFRESHED)
    assert event.success and event.source == Source.WORKER


@responses.activate
def test_it_keeps_the_refresh_token_when_front_sends_none(authorized):
    new_tokens(refresh=None)
    services.connection_access_token(connection=authorized)
    assert stored(authorized) == (NEW_ACCESS, OLD_REFRESH, Status.ONLINE)


@responses.activate
def test_it_does_not_refresh_when_another_caller_already_did(authorized):
    stale = type(authorized).objects.get(pk=authorized.pk)
    authorized.access_token = NEW_ACCESS
    authorized.access_token_expires_at = timezone.now() + timedelta(hours=1)
    authorized.save()
    assert services.connection_access_token(connection=stale) == NEW_ACCESS
    assert len(responses.calls) == 0


@responses.activate
def test_invalid_grant_asks_for_reauthorization(authorized):
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    with pytest.raises(front.FrontError, match="authorize the connection again"):
        services.connection_access_token(connection=authorized)
    assert stored(authorized) == (OLD_ACCESS, OLD_REFRESH, Status.REAUTHORIZE)
    event = Event.objects.get(action=Action.REFRESHED)
    assert not event.success and OLD_REFRESH not in event.message
    # No automatic retries once Front said no.
    with pytest.raises(front.FrontError, match="authorization: authorize it again"):
        services.connection_access_token(connection=authorized)
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    "failure",
    [{"body": requests.ReadTimeout()}, {"status": 503, "json": {}}, {"status": 429, "json": {}}],
)
@responses.activate
def test_transient_failures_leave_tokens_and_status_alone(authorized, failure):
    responses.post(TOKEN_URL, **failure)
    with pytest.raises(front.FrontError):
        services.connection_access_token(connection=authorized)
    assert stored(authorized) == (OLD_ACCESS, OLD_REFRESH, Status.ONLINE)
    assert not Event.objects.get(action=Action.REFRESHED).success


@responses.activate
def test_connection_refresh_forces_a_refresh(authorized, operator):
    authorized.access_token_expires_at = timezone.now() + timedelta(hours=1)
    authorized.save()
    new_tokens()
    assert services.connection_refresh(connection=authorized, actor=operator, source=Source.COMMAND)
    assert authorized.access_token == NEW_ACCESS
    event = Event.objects.get(action=Action.REFRESHED)
    assert event.actor == operator and event.source == Source.COMMAND


@responses.activate
def test_connection_refresh_skips_a_connection_refreshed_elsewhere(authorized):
    stale = type(authorized).objects.get(pk=authorized.pk)
    authorized.access_token = NEW_ACCESS
    authorized.access_token_expires_at = timezone.now() + timedelta(hours=1)
    authorized.save()
    assert not services.connection_refresh(connection=stale, source=Source.COMMAND)
    assert stale.access_token == NEW_ACCESS and len(responses.calls) == 0


def test_a_never_authorized_connection_has_no_token(oauth_connection):
    with pytest.raises(front.FrontError, match="Not authorized yet"):
        services.connection_access_token(connection=oauth_connection)


def test_a_token_connection_gives_its_api_token(token_connection):
    from tests.conftest import API_TOKEN

    assert services.connection_access_token(connection=token_connection) == API_TOKEN


def test_only_oauth_connections_refresh(token_connection):
    with pytest.raises(front.FrontError, match="Only OAuth 2.0"):
        services.connection_refresh(connection=token_connection, source=Source.COMMAND)


def test_disconnect_clears_the_tokens(authorized, operator):
    services.connection_disconnect(connection=authorized, actor=operator, source=Source.ADMIN)
    authorized.refresh_from_db()
    assert (authorized.access_token, authorized.refresh_token) == ("", "")
    assert authorized.access_token_expires_at is None
    assert authorized.status == Status.NOT_AUTHORIZED
    assert Event.objects.get(action=Action.DISCONNECTED).actor == operator


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_front_is_called_outside_any_transaction(authorized):
    from django.db import connection as db

    seen: list[bool] = []

    def token_endpoint(request):
        seen.append(db.in_atomic_block)
        return (200, {}, '{"access_token": "new-access-SECRET", "refresh_token": "n"}')

    responses.add_callback(responses.POST, TOKEN_URL, callback=token_endpoint)
    assert services.connection_access_token(connection=authorized) == NEW_ACCESS
    assert seen == [False]


@responses.activate
def test_a_refusal_of_a_token_someone_else_already_replaced_is_not_reauthorization(authorized):
    """The lease expired mid-call and another process refreshed: its invalid_grant is stale."""
    from connections.models import Connection

    def token_endpoint(request):
        Connection.objects.filter(pk=authorized.pk).update(
            refresh_token_digest="newer",
            access_token_expires_at=timezone.now() + timedelta(hours=1),
        )
        return (400, {}, '{"error": "invalid_grant"}')

    responses.add_callback(responses.POST, TOKEN_URL, callback=token_endpoint)
    services.connection_access_token(connection=authorized)
    authorized.refresh_from_db()
    assert authorized.status == Status.ONLINE


@responses.activate
def test_tokens_that_arrive_after_a_disconnect_are_not_stored(authorized, operator):
    from connections.models import Connection

    def token_endpoint(request):
        services.connection_disconnect(
            connection=Connection.objects.get(pk=authorized.pk), actor=operator, source="admin"
        )
        return (200, {}, '{"access_token": "new-access-SECRET", "refresh_token": "n"}')

    responses.add_callback(responses.POST, TOKEN_URL, callback=token_endpoint)
    with pytest.raises(front.FrontError, match="changed while"):
        services.connection_access_token(connection=authorized)
    authorized.refresh_from_db()
    assert (authorized.access_token, authorized.refresh_token) == ("", "")
    assert authorized.status == Status.NOT_AUTHORIZED


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_a_caller_that_loses_the_claim_waits_and_takes_the_stored_token(authorized):
    import threading

    from connections.models import Connection
    from connections.tokens import token_digest

    Connection.objects.filter(pk=authorized.pk).update(
        refresh_lease_id="other", refresh_lease_until=timezone.now() + timedelta(seconds=30)
    )

    def other_process_finishes() -> None:
        from django.db import connections

        try:
            Connection.objects.filter(pk=authorized.pk).update(
                access_token=NEW_ACCESS,
                refresh_token=NEW_REFRESH,
                refresh_token_digest=token_digest(NEW_REFRESH),
                access_token_expires_at=timezone.now() + timedelta(hours=1),
                refresh_lease_id="",
                refresh_lease_until=None,
            )
        finally:
            connections.close_all()

    timer = threading.Timer(0.3, other_process_finishes)
    timer.start()
    try:
        assert services.connection_access_token(connection=authorized) == NEW_ACCESS
    finally:
        timer.join()
    assert len(responses.calls) == 0


@responses.activate
def test_without_waiting_a_held_lease_is_reported_busy(authorized):
    from connections.models import Connection

    Connection.objects.filter(pk=authorized.pk).update(
        refresh_lease_id="other", refresh_lease_until=timezone.now() + timedelta(seconds=30)
    )
    with pytest.raises(services.RefreshBusy):
        services.connection_refresh(connection=authorized, source=Source.COMMAND, wait=False)
    assert len(responses.calls) == 0


@responses.activate
def test_an_expired_lease_of_a_crashed_process_is_taken_over(authorized):
    from connections.models import Connection

    Connection.objects.filter(pk=authorized.pk).update(
        refresh_lease_id="crashed", refresh_lease_until=timezone.now() - timedelta(seconds=1)
    )
    new_tokens()
    assert services.connection_access_token(connection=authorized) == NEW_ACCESS
    authorized.refresh_from_db()
    assert authorized.refresh_lease_id == "" and authorized.refresh_lease_until is None
