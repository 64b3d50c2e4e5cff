"""The API's credential truth (issue 16 item 6): a token changed through the API is Not checked
yet and checked on commit; the access-token endpoint hands out only a token Front accepted."""

from __future__ import annotations

import pytest
import requests
import responses

from connections.models import Connection, Status
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db

ME_URL = "https://api2.frontapp.com/me"
URL = "/api/v1/connections/"
REFUSED = {"_error": {"status": 401, "title": "Unauthenticated", "message": "JWT error"}}


def token_url(connection) -> str:
    return f"{URL}{connection.pk}/access-token/"


@responses.activate
def test_a_garbage_token_patched_in_is_unchecked_then_refused_and_never_handed_out(
    full_api, token_connection, django_capture_on_commit_callbacks
):
    responses.get(ME_URL, status=401, json=REFUSED)
    with django_capture_on_commit_callbacks(execute=True):
        response = full_api.patch(
            f"{URL}{token_connection.pk}/", {"api_token": "garbage"}, format="json"
        )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == Status.UNCHECKED
    assert body["last_check_result"].startswith("Not checked yet")
    assert body["front_company_name"] == ""
    token_connection.refresh_from_db()
    assert token_connection.status == Status.OFFLINE  # checked once the change committed
    answer = full_api.post(token_url(token_connection))
    assert answer.status_code == 409
    assert "garbage" not in answer.content.decode()


@responses.activate
def test_an_unchecked_token_is_checked_before_it_is_handed_out(full_api, token_connection):
    Connection.objects.filter(pk=token_connection.pk).update(status=Status.UNCHECKED)
    responses.get(ME_URL, json={"id": "cmp_1", "name": "Acme", "_links": {}})
    answer = full_api.post(token_url(token_connection))
    assert answer.status_code == 200
    assert answer.json()["access_token"] == API_TOKEN
    assert Connection.objects.get(pk=token_connection.pk).status == Status.ONLINE


@responses.activate
def test_an_unchecked_token_front_refuses_now_is_not_handed_out(full_api, token_connection):
    Connection.objects.filter(pk=token_connection.pk).update(status=Status.UNCHECKED)
    responses.get(ME_URL, status=401, json=REFUSED)
    answer = full_api.post(token_url(token_connection))
    assert answer.status_code == 409
    assert API_TOKEN not in answer.content.decode()
    assert Connection.objects.get(pk=token_connection.pk).status == Status.OFFLINE


@responses.activate
def test_an_unchecked_token_is_not_handed_out_when_front_cannot_be_asked(
    full_api, token_connection
):
    Connection.objects.filter(pk=token_connection.pk).update(status=Status.UNCHECKED)
    responses.get(ME_URL, body=requests.ConnectionError("refused"))
    answer = full_api.post(token_url(token_connection))
    assert answer.status_code == 502
    assert "not checked yet" in answer.json()["error"]
    assert API_TOKEN not in answer.content.decode()


def test_a_token_front_refused_is_never_handed_out(full_api, token_connection):
    Connection.objects.filter(pk=token_connection.pk).update(status=Status.OFFLINE)
    answer = full_api.post(token_url(token_connection))
    assert answer.status_code == 409
    assert API_TOKEN not in answer.content.decode()


def test_a_token_offline_only_because_front_is_unreachable_is_handed_out(
    full_api, token_connection
):
    from django.utils import timezone

    Connection.objects.filter(pk=token_connection.pk).update(
        status=Status.OFFLINE, unreachable_since=timezone.now()
    )
    assert full_api.post(token_url(token_connection)).json()["access_token"] == API_TOKEN
