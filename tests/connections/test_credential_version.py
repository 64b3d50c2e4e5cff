"""Verdicts belong to the credential they judged (issue 16, item 1).

Every change of a connection's sign-in bumps its credential version; a check, a refresh or an
authorization made for an older version goes into the history as superseded and never changes
the status or the stored tokens. The interleavings are made deterministic by doing the other
party's change from inside the call to Front.
"""

from __future__ import annotations

import threading
import time

import pytest
import responses
from django.contrib.messages import get_messages
from django.db import connection as db_connection
from django.db import connections
from django.test import Client

from alerts.models import Notification
from connections import front, services
from connections.models import Action, AuthType, Connection, Event, Source, Status, Transition
from connections.rules import ConnectionInput, TokenPolicy, connection_apply
from connections.status import connection_status_set
from connections.tokens import token_digest
from tests.conftest import API_TOKEN
from tests.connections.test_oauth_callback import start

NEW_TOKEN = "new-api-token-SECRET-4242"
TOKEN_URL = "https://app.frontapp.com/oauth/token"
ME_URL = "https://api2.frontapp.com/me"
CODE = "auth-code-SECRET-5151"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def front_urls(settings):
    settings.FRONT_OAUTH_AUTHORIZE_URL = "https://app.frontapp.com/oauth/authorize"
    settings.FRONT_OAUTH_TOKEN_URL = TOKEN_URL
    settings.FRONT_API_URL = "https://api2.frontapp.com"


def save_token(connection: Connection, token: str) -> None:
    """The owner saves a new API token, through the rules every skin uses."""
    fresh = Connection.objects.get(pk=connection.pk)
    connection_apply(
        connection=fresh,
        data=ConnectionInput(
            name=fresh.name,
            company_name=fresh.company_name,
            auth_type=AuthType.TOKEN,
            owner=fresh.owner,
            api_token=token,
        ),
        token_policy=TokenPolicy.KEEP_IF_BLANK,
        actor=fresh.owner,
        source=Source.SELF_SERVICE,
    )


def switch_to_token(connection: Connection) -> None:
    """An operator switches an OAuth 2.0 connection to an API token."""
    save_token(connection, NEW_TOKEN)


def online(connection: Connection) -> Connection:
    connection.status = Status.ONLINE
    connection.last_check_result = "Online: Front company Acme."
    connection.save()
    return connection


def test_every_sign_in_change_bumps_the_version_and_nothing_else_does(token_connection):
    start = token_connection.credential_version
    save_token(token_connection, API_TOKEN)  # the same token: no change of sign-in
    token_connection.refresh_from_db()
    assert token_connection.credential_version == start
    save_token(token_connection, NEW_TOKEN)
    token_connection.refresh_from_db()
    assert token_connection.credential_version == start + 1


def test_a_401_for_the_old_token_landing_after_a_new_token_was_saved_changes_nothing(
    token_connection, monkeypatch, django_capture_on_commit_callbacks, checks_not_queued
):
    # (a) The worker's check asks Front with the old token; meanwhile the owner saves a valid
    # new one; then Front's 401 for the old token arrives.
    checked = online(Connection.objects.get(pk=token_connection.pk))

    def me(*, token, budget_key, **kwargs):
        assert token == API_TOKEN
        save_token(token_connection, NEW_TOKEN)
        raise front.FrontError("Front refused the API token (HTTP 401).", kind="unauthorized")

    monkeypatch.setattr(front, "me", me)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.connection_check(connection=checked, actor=None, source=Source.WORKER)

    stored = Connection.objects.get(pk=token_connection.pk)
    # The new token awaits its own check (queued on commit), never the old token's verdict.
    assert stored.status == Status.UNCHECKED
    assert checks_not_queued.called
    assert stored.api_token == NEW_TOKEN
    assert "401" not in stored.last_check_result
    assert not Transition.objects.filter(new_status=Status.OFFLINE).exists()
    assert not Notification.objects.exists()
    superseded = Event.objects.get(connection=stored, action=Action.SUPERSEDED)
    assert "Offline" in superseded.message and not superseded.success
    assert outcome.result == services.CheckResult.UNCHECKED
    assert outcome.connection.status == Status.UNCHECKED


def test_a_401_for_the_current_token_still_makes_it_offline(token_connection, monkeypatch):
    checked = online(Connection.objects.get(pk=token_connection.pk))

    def me(*, token, budget_key, **kwargs):
        raise front.FrontError("Front refused the API token (HTTP 401).", kind="unauthorized")

    monkeypatch.setattr(front, "me", me)
    services.connection_check(connection=checked, actor=None, source=Source.WORKER)
    assert Connection.objects.get(pk=token_connection.pk).status == Status.OFFLINE
    assert not Event.objects.filter(action=Action.SUPERSEDED).exists()


def test_the_status_door_records_a_verdict_for_an_older_version_as_superseded(
    token_connection, checks_not_queued
):
    online(token_connection)
    old = token_connection.credential_version
    save_token(token_connection, NEW_TOKEN)
    transition = connection_status_set(
        connection=token_connection,
        status=Status.OFFLINE,
        reason="Front refused the API token (HTTP 401).",
        source=Source.WORKER,
        version=old,
    )
    assert transition is None
    assert Connection.objects.get(pk=token_connection.pk).status == Status.UNCHECKED
    assert Event.objects.filter(action=Action.SUPERSEDED).count() == 1


def token_body() -> dict[str, object]:
    from django.utils import timezone

    return {
        "access_token": "access-SECRET-1",
        "refresh_token": "refresh-SECRET-1",
        "token_type": "Bearer",
        "expires_at": int(timezone.now().timestamp()) + 3600,
    }


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@responses.activate
def test_a_switch_to_token_while_the_code_is_redeemed_stores_no_grant(owner, oauth_connection):
    # (b) The code exchange is in flight when an operator switches the connection to Token.
    client = Client()
    client.force_login(owner)
    state, _ = start(client, oauth_connection)

    def exchange(request):
        switch_to_token(oauth_connection)
        import json

        return 200, {}, json.dumps(token_body())

    responses.add_callback(responses.POST, TOKEN_URL, callback=exchange)
    responses.get(ME_URL, json={"_links": {"self": ME_URL}, "id": "cmp_1", "name": "Acme"})

    response = client.get("/oauth/callback/", {"code": CODE, "state": state})

    assert response.status_code == 303
    assert any("changed while you were in Front" in text for text in messages_of(response))
    stored = Connection.objects.get(pk=oauth_connection.pk)
    assert stored.auth_type == AuthType.TOKEN and stored.api_token == NEW_TOKEN
    assert not stored.access_token and not stored.refresh_token
    assert stored.status != Status.ONLINE and stored.front_company_id == ""
    assert not Transition.objects.filter(new_status=Status.ONLINE).exists()
    assert not Event.objects.filter(action=Action.AUTHORIZED, success=True).exists()
    assert Event.objects.filter(action=Action.SUPERSEDED, connection=stored).exists()


@responses.activate
def test_an_older_flow_cannot_overwrite_a_newer_authorization(owner, oauth_connection):
    # Two Save and authorize flows; the later one finishes first; the earlier one's callback
    # then belongs to a sign-in that no longer exists.
    client = Client()
    client.force_login(owner)
    first, _ = start(client, oauth_connection)
    second, _ = start(client, oauth_connection)
    responses.post(TOKEN_URL, json=token_body())
    responses.get(ME_URL, json={"_links": {"self": ME_URL}, "id": "cmp_1", "name": "Acme"})
    assert client.get("/oauth/callback/", {"code": CODE, "state": second}).status_code == 303
    kept = Connection.objects.get(pk=oauth_connection.pk)

    response = client.get("/oauth/callback/", {"code": CODE, "state": first})

    assert any("changed while you were in Front" in text for text in messages_of(response))
    stored = Connection.objects.get(pk=oauth_connection.pk)
    assert stored.refresh_token_digest == kept.refresh_token_digest
    assert stored.credential_version == kept.credential_version
    assert len([c for c in responses.calls if c.request.url == TOKEN_URL]) == 1


@responses.activate
def test_a_refresh_whose_connection_was_switched_to_token_meanwhile_stores_nothing(
    oauth_connection,
):
    from datetime import timedelta

    from django.utils import timezone

    oauth_connection.access_token = "old-access-SECRET"
    oauth_connection.refresh_token = "old-refresh-SECRET"
    oauth_connection.refresh_token_digest = token_digest("old-refresh-SECRET")
    oauth_connection.access_token_expires_at = timezone.now() - timedelta(minutes=1)
    online(oauth_connection)

    def refresh(request):
        switch_to_token(oauth_connection)
        import json

        return 200, {}, json.dumps(token_body())

    responses.add_callback(responses.POST, TOKEN_URL, callback=refresh)
    with pytest.raises(front.FrontError):
        services.connection_refresh(connection=oauth_connection, source=Source.WORKER)

    stored = Connection.objects.get(pk=oauth_connection.pk)
    assert stored.auth_type == AuthType.TOKEN and stored.api_token == NEW_TOKEN
    assert not stored.access_token and not stored.refresh_token and not stored.refresh_lease_id


def test_disconnecting_and_authorizing_bump_the_version(oauth_connection):
    before = oauth_connection.credential_version
    services.connection_disconnect(connection=oauth_connection, actor=None, source=Source.ADMIN)
    assert oauth_connection.credential_version == before + 1
    assert Connection.objects.get(pk=oauth_connection.pk).credential_version == before + 1


def test_an_import_that_changes_a_token_bumps_the_version_and_one_that_does_not_leaves_it(
    token_connection,
):
    import io

    from connections.bulk import connection_import

    def run(token: str, company: str = "Acme") -> None:
        line = f"{token_connection.name},{company},token,{token},{token_connection.owner.username}"
        stream = io.BytesIO(f"name,company_name,auth_type,api_token,owner\n{line}\n".encode())
        connection_import(stream=stream, fmt="csv", update=True)

    before = token_connection.credential_version
    run(API_TOKEN, company="Acme Corp")  # the company changes, the sign-in does not
    token_connection.refresh_from_db()
    assert token_connection.credential_version == before
    run(NEW_TOKEN)
    token_connection.refresh_from_db()
    assert token_connection.credential_version == before + 1
    assert token_connection.api_token == NEW_TOKEN


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    db_connection.vendor != "postgresql",
    reason="needs PostgreSQL: a check and a save racing on two database connections",
)
def test_a_real_race_of_a_slow_401_and_a_new_token_on_postgresql(front_settings, token_connection):
    # The owner revoked the old token at Front and made a new one; the worker's check with the
    # old token is on its way (Front answers in 0.5 s) when the owner saves the new token.
    online(token_connection)
    front_settings.api_tokens = {NEW_TOKEN}
    front_settings.me_answer_delay = 0.5
    outcome: list[object] = []

    def check() -> None:
        try:
            mine = Connection.objects.get(pk=token_connection.pk)
            outcome.append(
                services.connection_check(connection=mine, actor=None, source=Source.WORKER)
            )
        finally:
            connections.close_all()

    worker = threading.Thread(target=check)
    worker.start()
    deadline = time.monotonic() + 5
    while front_settings.me_requests == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    save_token(token_connection, NEW_TOKEN)
    worker.join(timeout=10)

    stored = Connection.objects.get(pk=token_connection.pk)
    assert stored.status == Status.ONLINE and stored.api_token == NEW_TOKEN
    assert not Transition.objects.filter(new_status=Status.OFFLINE).exists()
    assert not Notification.objects.exists()
    assert Event.objects.filter(action=Action.SUPERSEDED, connection=stored).count() == 1
    # The new token is then checked and found Online by Front.
    front_settings.me_answer_delay = 0
    assert services.connection_check(connection=stored, actor=None, source=Source.WORKER).online
