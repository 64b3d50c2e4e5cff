"""A saved credential is checked in every skin (issue 16 item 6).

A new or changed API token leaves the connection Not checked yet, through the status door, with
the old check's sentence and company replaced; it is checked once the change commits: by the
page right away, by the worker for the API and the import (queued in messages of a few hundred).
"""

from __future__ import annotations

import io
import logging
from unittest import mock

import pytest
import requests
import responses
from django.urls import reverse

from connections import rules, tasks
from connections.bulk import connection_import
from connections.models import AuthType, Connection, Source, Status, Transition
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db

ME_URL = "https://api2.frontapp.com/me"
NEW_TOKEN = "tok-SECRET-new-4444"
HEADER = "name,company_name,auth_type,api_token,oauth_client,scopes,owner\n"


@pytest.fixture
def online(online_token_connection):
    return online_token_connection


def change_token(connection, token, *, source=Source.API, checks_in_request=False):
    data = rules.ConnectionInput(
        name=connection.name,
        company_name=connection.company_name,
        auth_type=AuthType.TOKEN,
        owner=connection.owner,
        api_token=token,
    )
    return rules.connection_apply(
        connection=connection,
        data=data,
        token_policy=rules.TokenPolicy.KEEP_IF_BLANK,
        actor=None,
        source=source,
        checks_in_request=checks_in_request,
    )


def test_a_changed_token_is_not_checked_yet_and_forgets_the_old_verdict(online):
    with mock.patch.object(tasks.check_unchecked, "apply_async") as queued:
        change_token(online, NEW_TOKEN)
    online.refresh_from_db()
    assert online.status == Status.UNCHECKED
    assert online.get_status_display() == "Not checked yet"
    assert online.last_check_result == rules.UNCHECKED_REASON
    assert "Online" not in online.last_check_result
    assert (online.front_company_id, online.front_company_name) == ("", "")
    assert online.last_checked_at is None  # due for the periodic check, if the message is lost
    transition = Transition.objects.get(connection=online)
    assert (transition.old_status, transition.new_status) == (Status.ONLINE, Status.UNCHECKED)
    queued.assert_not_called()  # only once the change commits


@responses.activate
def test_a_garbage_token_saved_by_the_api_is_checked_on_commit(
    online, django_capture_on_commit_callbacks
):
    responses.get(ME_URL, status=401, json={"_error": {"status": 401, "message": "JWT error"}})
    with django_capture_on_commit_callbacks(execute=True):
        change_token(online, "garbage")
    online.refresh_from_db()
    assert online.status == Status.OFFLINE
    assert [c.request.url for c in responses.calls] == [ME_URL]
    assert list(
        Transition.objects.filter(connection=online)
        .order_by("pk")
        .values_list("new_status", flat=True)
    ) == [Status.UNCHECKED, Status.OFFLINE]


def test_an_unchanged_token_keeps_its_status(online, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        change_token(online, API_TOKEN)
    online.refresh_from_db()
    assert online.status == Status.ONLINE and callbacks == []


def test_switching_to_token_is_not_checked_yet_not_not_authorized(oauth_connection):
    Connection.objects.filter(pk=oauth_connection.pk).update(status=Status.ONLINE)
    oauth_connection.refresh_from_db()
    with mock.patch.object(tasks.check_unchecked, "apply_async"):
        change_token(oauth_connection, NEW_TOKEN)
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.UNCHECKED


def test_a_new_token_connection_starts_not_checked_yet(owner):
    connection = Connection(name="New", company_name="Acme", owner=owner)
    connection.api_token = API_TOKEN
    connection.save()
    assert Connection.objects.get(pk=connection.pk).status == Status.UNCHECKED


def test_the_form_checks_right_away_and_queues_nothing(client, owner, front_settings):
    client.force_login(owner)
    with mock.patch.object(tasks, "connections_check_queue") as queued:
        response = client.post(
            reverse("connections:new"),
            {"name": "Desk", "company_name": "Acme", "auth_type": "token", "api_token": API_TOKEN},
            follow=True,
        )
    assert response.status_code == 200
    connection = Connection.objects.get(name="Desk")
    assert connection.status == Status.ONLINE
    queued.assert_not_called()


@responses.activate
def test_an_import_leaves_tokens_unchecked_and_queues_them_in_messages(
    owner, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(tasks, "CHECK_MESSAGE_SIZE", 2)
    rows = "".join(f"Inbox {i},Acme,token,tok-SECRET-{i},,,alice\n" for i in range(5))
    with mock.patch.object(tasks.check_unchecked, "apply_async") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            connection_import(stream=io.BytesIO((HEADER + rows).encode()), fmt="csv")
    assert set(Connection.objects.values_list("status", flat=True)) == {Status.UNCHECKED}
    # Queued through common.broker.task_dispatch: apply_async((ids,)).
    assert [len(call.args[0][0]) for call in queued.call_args_list] == [2, 2, 1]
    assert sorted(pk for call in queued.call_args_list for pk in call.args[0][0]) == sorted(
        Connection.objects.values_list("pk", flat=True)
    )
    assert not responses.calls  # the import itself never waits for Front


def test_the_worker_checks_only_what_is_still_unchecked(owner, front_settings):
    connections = []
    for name in ("A", "B"):
        connection = Connection(name=name, company_name="Acme", owner=owner)
        connection.api_token = API_TOKEN
        connection.save()
        connections.append(connection)
    Connection.objects.filter(pk=connections[1].pk).update(status=Status.OFFLINE)
    assert tasks.check_unchecked([c.pk for c in connections]) == 1
    assert Connection.objects.get(name="A").status == Status.ONLINE
    assert Connection.objects.get(name="B").status == Status.OFFLINE
    assert front_settings.me_requests == 1


def test_an_import_update_of_a_token_leaves_it_unchecked(online):
    rows = f"Support inbox,Acme,token,{NEW_TOKEN},,,alice\n"
    with mock.patch.object(tasks.check_unchecked, "apply_async"):
        connection_import(stream=io.BytesIO((HEADER + rows).encode()), fmt="csv", update=True)
    online.refresh_from_db()
    assert online.status == Status.UNCHECKED and online.front_company_name == ""


def test_a_broker_that_cannot_be_reached_is_one_line(caplog):
    with mock.patch.object(
        tasks.check_unchecked, "apply_async", side_effect=ConnectionRefusedError("broker")
    ):
        with caplog.at_level(logging.WARNING):
            tasks.connections_check_queue([1, 2, 3])
    # One line, no traceback, through the one dispatch helper; the periodic check finds them.
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in problems] == [
        "Could not queue connections.tasks.check_unchecked: the broker refused it "
        "(ConnectionRefusedError: broker); the next periodic sweep queues this work again."
    ]
    assert problems[0].exc_info is None


def test_unchecked_tokens_are_due_for_the_periodic_check(online):
    from connections.upkeep import connections_due_check

    with mock.patch.object(tasks.check_unchecked, "apply_async"):
        change_token(online, NEW_TOKEN)
    assert online.pk in connections_due_check()


@responses.activate
def test_saving_a_new_token_during_an_outage_says_could_not_check(client, owner, online):
    responses.get(ME_URL, body=requests.ConnectionError("refused"))
    client.force_login(owner)
    response = client.post(
        reverse("connections:edit", args=[online.pk]),
        {"name": online.name, "company_name": "Acme", "auth_type": "token", "api_token": NEW_TOKEN},
        follow=True,
    )
    page = response.content.decode()
    assert "Could not check \u201cSupport inbox\u201d" in page
    assert "Not checked yet" in page
    assert "did not accept" not in page and "Not authorized" not in page
