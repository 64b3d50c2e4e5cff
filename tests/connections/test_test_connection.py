"""Test connection: the service, the admin button, the admin action and the test after save."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
import responses
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from connections import services
from connections.models import Action, AuthType, Connection, Event, Source, Status
from tests.conftest import API_TOKEN

ME_URL = "https://api2.frontapp.com/me"
TOKEN_URL = "https://app.frontapp.com/oauth/token"


@pytest.fixture(autouse=True)
def front_urls(settings):
    settings.FRONT_API_URL = "https://api2.frontapp.com"
    settings.FRONT_OAUTH_TOKEN_URL = TOKEN_URL


def me_ok(company_id="cmp_1", name="Dunder Mifflin"):
    responses.get(ME_URL, json={"_links": {"self": ME_URL}, "id": company_id, "name": name})


def button_url(connection):
    return reverse("admin:connections_connection_test", args=[connection.pk])


@responses.activate
def test_a_good_api_token_is_online_with_the_company(token_connection, operator):
    me_ok()
    services.connection_test(connection=token_connection, actor=operator, source=Source.ADMIN)
    token_connection.refresh_from_db()
    assert token_connection.status == Status.ONLINE
    assert token_connection.front_company_id == "cmp_1"
    assert token_connection.front_company_name == "Dunder Mifflin"
    assert token_connection.last_checked_at > timezone.now() - timedelta(minutes=1)
    assert token_connection.last_check_result == "Online: Front company Dunder Mifflin."
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {API_TOKEN}"
    event = Event.objects.get(action=Action.TESTED)
    assert event.success and event.actor == operator


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        ({"status": 401, "json": {"_error": {"message": "JSON Web Token error"}}}, "rejected"),
        ({"status": 403, "json": {}}, "lacks a permission"),
    ],
)
@responses.activate
def test_a_refused_credential_is_offline_with_the_reason(token_connection, failure, words):
    responses.get(ME_URL, **failure)
    services.connection_test(connection=token_connection, actor=None, source=Source.COMMAND)
    token_connection.refresh_from_db()
    assert token_connection.status == Status.OFFLINE
    assert words in token_connection.last_check_result
    assert API_TOKEN not in token_connection.last_check_result
    assert token_connection.last_checked_at is not None
    event = Event.objects.get(action=Action.TESTED)
    assert not event.success and words in event.message


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        ({"status": 429, "json": {}, "headers": {"retry-after": "40"}}, "try again in 40 seconds"),
        ({"status": 503, "json": {}}, "unavailable"),
        ({"body": requests.ConnectionError()}, "Could not reach Front"),
        ({"body": requests.ReadTimeout()}, "did not answer"),
    ],
)
@responses.activate
def test_a_check_that_cannot_reach_front_keeps_the_status(token_connection, failure, words):
    Connection.objects.filter(pk=token_connection.pk).update(status=Status.ONLINE)
    responses.get(ME_URL, **failure)
    services.connection_test(connection=token_connection, actor=None, source=Source.COMMAND)
    token_connection.refresh_from_db()
    assert token_connection.status == Status.ONLINE
    assert str(token_connection.last_check_result).startswith("Could not check: ")
    assert words in token_connection.last_check_result
    assert token_connection.last_checked_at is not None
    event = Event.objects.get(action=Action.TESTED)
    assert not event.success and words in event.message


@responses.activate
def test_an_oauth_connection_uses_a_refreshed_access_token(oauth_connection):
    oauth_connection.access_token, oauth_connection.refresh_token = "old-at", "old-rt"
    oauth_connection.access_token_expires_at = timezone.now() - timedelta(minutes=1)
    oauth_connection.status = Status.ONLINE
    oauth_connection.save()
    responses.post(TOKEN_URL, json={"access_token": "new-at", "refresh_token": "new-rt"})
    me_ok()
    services.connection_test(connection=oauth_connection, actor=None, source=Source.WORKER)
    assert responses.calls[1].request.headers["Authorization"] == "Bearer new-at"
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.ONLINE and oauth_connection.access_token == "new-at"


@responses.activate
def test_an_oauth_401_refreshes_once_and_retries(oauth_connection):
    oauth_connection.access_token, oauth_connection.refresh_token = "old-at", "old-rt"
    oauth_connection.access_token_expires_at = timezone.now() + timedelta(hours=1)
    oauth_connection.save()
    responses.get(ME_URL, status=401, json={})
    responses.post(TOKEN_URL, json={"access_token": "new-at"})
    me_ok()
    services.connection_test(connection=oauth_connection, actor=None, source=Source.WORKER)
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.ONLINE and len(responses.calls) == 3


@responses.activate
def test_an_unauthorized_oauth_connection_stays_not_authorized(oauth_connection):
    services.connection_test(connection=oauth_connection, actor=None, source=Source.WORKER)
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.NOT_AUTHORIZED
    assert "Save and authorize" in oauth_connection.last_check_result
    assert len(responses.calls) == 0


@responses.activate
def test_an_oauth_token_of_another_company_is_offline(oauth_connection):
    oauth_connection.access_token = "at"
    oauth_connection.access_token_expires_at = timezone.now() + timedelta(hours=1)
    oauth_connection.front_company_id, oauth_connection.front_company_name = "cmp_1", "Acme"
    oauth_connection.save()
    me_ok(company_id="cmp_2", name="Other")
    services.connection_test(connection=oauth_connection, actor=None, source=Source.WORKER)
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.OFFLINE
    assert oauth_connection.front_company_id == "cmp_1"


@responses.activate
def test_the_admin_button_tests_and_reports(operator_client, token_connection):
    me_ok()
    response = operator_client.post(button_url(token_connection))
    assert response.status_code == 303
    change = reverse("admin:connections_connection_change", args=[token_connection.pk])
    assert response["Location"] == change
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("is Online (Front company Dunder Mifflin)" in m for m in messages)
    token_connection.refresh_from_db()
    assert token_connection.status == Status.ONLINE


@responses.activate
def test_the_admin_button_is_post_only(operator_client, token_connection):
    assert operator_client.get(button_url(token_connection)).status_code == 405
    assert len(responses.calls) == 0


@responses.activate
def test_the_admin_button_needs_csrf(client, operator, token_connection):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(operator)
    assert csrf_client.post(button_url(token_connection)).status_code == 403
    assert len(responses.calls) == 0


@responses.activate
def test_the_admin_button_needs_the_change_permission(client, token_connection, stranger):
    stranger.is_staff = True
    stranger.save()
    stranger.user_permissions.add(Permission.objects.get(codename="view_connection"))
    client.force_login(stranger)
    assert client.post(button_url(token_connection)).status_code == 403
    assert len(responses.calls) == 0
    token_connection.refresh_from_db()
    assert token_connection.last_checked_at is None


@responses.activate
def test_the_admin_action_tests_every_selected_connection(operator_client, token_connection, owner):
    other = Connection(name="Second", company_name="B", auth_type=AuthType.TOKEN, owner=owner)
    other.api_token = "another-token"
    other.save()
    responses.get(
        ME_URL,
        match=[responses.matchers.header_matcher({"Authorization": f"Bearer {API_TOKEN}"})],
        json={"id": "cmp_1", "name": "Acme"},
    )
    responses.get(ME_URL, status=401, json={})
    response = operator_client.post(
        reverse("admin:connections_connection_changelist"),
        {"action": "test_connections", "_selected_action": [token_connection.pk, other.pk]},
        follow=True,
    )
    assert "Tested 2 connections: 1 online, 1 not online" in response.content.decode()
    assert Event.objects.filter(action=Action.TESTED).count() == 2


@responses.activate
def test_saving_a_token_connection_in_the_admin_tests_it(operator_client, owner):
    me_ok()
    response = operator_client.post(
        reverse("admin:connections_connection_add"),
        {
            "name": "New one",
            "company_name": "Acme",
            "auth_type": "token",
            "api_token": API_TOKEN,
            "owner": owner.pk,
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    connection = Connection.objects.get(name="New one")
    assert connection.status == Status.ONLINE
    assert "is Online (Front company Dunder Mifflin)" in response.content.decode()
    assert API_TOKEN not in response.content.decode()


def test_the_admin_button_answers_404_for_an_unknown_connection(operator_client):
    response = operator_client.post("/admin/connections/connection/999999/test/")
    assert response.status_code == 404
