from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from api import budget, keys
from api.models import ApiKeyUsage, Permission
from connections import ratelimit
from connections.models import Connection, Status
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db


def front_url(connection, path: str) -> str:
    return f"/api/v1/connections/{connection.pk}/front/{path}"


def test_get_goes_to_front_with_the_connections_token_and_query(
    full_api, full_key, token_connection, echo_front
):
    response = full_api.get(
        front_url(token_connection, "conversations") + "?q=status%3Aopen&limit=5",
        HTTP_ACCEPT="application/json",
        HTTP_COOKIE="sessionid=caller-session",
        HTTP_X_FORWARDED_FOR="10.9.9.9",
        HTTP_IF_NONE_MATCH='"etag-1"',
    )
    assert response.status_code == 200
    assert response.streaming
    body = json.loads(b"".join(response.streaming_content))
    assert body == {"method": "GET", "path": "/conversations?q=status%3Aopen&limit=5", "size": 0}
    (seen,) = echo_front.seen
    assert seen.headers["authorization"] == f"Bearer {API_TOKEN}"
    assert full_key.plaintext not in json.dumps(seen.headers)
    assert "cookie" not in seen.headers
    assert "x-forwarded-for" not in seen.headers
    assert seen.headers["accept"] == "application/json"
    assert seen.headers["if-none-match"] == '"etag-1"'


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_other_methods_forward_their_body(full_api, token_connection, echo_front, method):
    payload = {"body": "Hello", "to": ["a@example.com"]}
    response = getattr(full_api, method)(
        front_url(token_connection, "channels/cha_1/messages"), payload, format="json"
    )
    assert response.status_code == 200
    (seen,) = echo_front.seen
    assert seen.method == method.upper()
    assert seen.path == "/channels/cha_1/messages"
    assert json.loads(seen.body) == payload
    assert seen.headers["content-type"] == "application/json"


def test_fronts_status_body_and_rate_limit_headers_come_back(
    full_api, token_connection, echo_front
):
    echo_front.statuses = [429]
    echo_front.extra_headers = {"Retry-After": "7", "x-front-tier": "tier-2"}
    response = full_api.get(front_url(token_connection, "conversations/cnv_1"))
    assert response.status_code == 429
    assert json.loads(b"".join(response.streaming_content))["_error"]["status"] == 429
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["x-ratelimit-limit"] == "100"
    assert response["x-ratelimit-remaining"] == "99"
    assert response["x-ratelimit-reset"] == "1700000000"
    assert response["retry-after"] == "7"
    assert response["x-front-tier"] == "tier-2"
    assert "Set-Cookie" not in response and "X-Internal" not in response


def test_an_expired_oauth_token_is_refreshed_once_on_401_and_the_call_retried(
    full_api, oauth_connection, front_settings, echo_front, settings
):
    settings.FRONT_API_URL = echo_front.url
    tokens = front_settings.issue()
    oauth_connection.access_token = str(tokens["access_token"])
    oauth_connection.refresh_token = str(tokens["refresh_token"])
    oauth_connection.access_token_expires_at = timezone.now() + timedelta(hours=1)
    oauth_connection.status = Status.ONLINE
    oauth_connection.save()
    echo_front.statuses = [401]
    response = full_api.post(
        front_url(oauth_connection, "contacts"), {"name": "Ann"}, format="json"
    )
    assert response.status_code == 200
    assert front_settings.refresh_count() == 1
    first, second = echo_front.seen
    assert first.body == second.body
    assert first.headers["authorization"] == f"Bearer {tokens['access_token']}"
    assert second.headers["authorization"] != first.headers["authorization"]
    assert Connection.objects.get().access_token == second.headers["authorization"][7:]


def test_a_second_401_is_passed_back_without_another_refresh(
    full_api, oauth_connection, front_settings, echo_front, settings
):
    settings.FRONT_API_URL = echo_front.url
    tokens = front_settings.issue()
    oauth_connection.access_token = str(tokens["access_token"])
    oauth_connection.refresh_token = str(tokens["refresh_token"])
    oauth_connection.access_token_expires_at = timezone.now() + timedelta(hours=1)
    oauth_connection.save()
    echo_front.statuses = [401, 401]
    response = full_api.get(front_url(oauth_connection, "me"))
    assert response.status_code == 401
    assert front_settings.refresh_count() == 1
    assert len(echo_front.seen) == 2


def test_a_token_connection_is_not_refreshed_on_401(full_api, token_connection, echo_front):
    echo_front.statuses = [401]
    assert full_api.get(front_url(token_connection, "me")).status_code == 401
    assert len(echo_front.seen) == 1


def test_an_exhausted_budget_answers_429_without_calling_front(
    full_api, token_connection, echo_front, monkeypatch
):
    waits = []

    def refuse(key, *, wait, **where):
        waits.append(wait)
        return ratelimit.Deferred(key, 2.5)

    monkeypatch.setattr(budget, "budget_wait", refuse)
    response = full_api.get(front_url(token_connection, "me"))
    assert response.status_code == 429
    assert response["Retry-After"] == "3"
    assert "budget" in response.json()["error"]
    assert echo_front.seen == []
    assert waits == [2.0]


def test_the_proxy_needs_the_proxy_permission(make_key, api, token_connection, echo_front):
    client = api(make_key([Permission.READ, Permission.TOKEN]).plaintext)
    assert client.get(front_url(token_connection, "me")).status_code == 403
    assert echo_front.seen == []


def test_another_users_connection_is_404_and_nothing_is_sent(
    full_api, stranger, token_connection, echo_front
):
    token_connection.owner = stranger
    token_connection.save()
    assert full_api.get(front_url(token_connection, "me")).status_code == 404
    assert echo_front.seen == []


def test_calls_are_counted_once_the_answer_is_sent(full_api, token_connection, echo_front):
    first = full_api.get(front_url(token_connection, "me"))
    b"".join(first.streaming_content)
    b"".join(full_api.get(front_url(token_connection, "me")).streaming_content)
    assert not ApiKeyUsage.objects.exists()
    keys.proxy_usage.flush()
    assert ApiKeyUsage.objects.get().count == 2
    b"".join(full_api.get(front_url(token_connection, "me")).streaming_content)
    keys.proxy_usage.flush()
    assert ApiKeyUsage.objects.get().count == 3


def test_an_unreachable_front_is_502(full_api, token_connection, settings):
    settings.FRONT_API_URL = "http://127.0.0.1:9"
    response = full_api.get(front_url(token_connection, "me"))
    assert response.status_code == 502
    assert response.json()["error"]


def test_fronts_api_base_path_is_kept(full_api, token_connection, echo_front, settings):
    settings.FRONT_API_URL = echo_front.url + "/v2"
    full_api.get(front_url(token_connection, "me"))
    assert echo_front.seen[0].path == "/v2/me"


@pytest.mark.parametrize(
    "path",
    [
        "..%2f..%2fadmin",
        "%2e%2e/%2e%2e/x",
        "http://evil.example/x",
        "me%5c..%5cx",
        "%252e%252e/x",
        "a//b",
        "me/%0d%0aHost:evil",
    ],
)
def test_paths_outside_fronts_api_are_400_and_never_sent(
    full_api, token_connection, echo_front, path
):
    response = full_api.get(front_url(token_connection, path))
    assert response.status_code == 400
    assert "front_path" in response.json()["fields"]
    assert echo_front.seen == []


def test_an_encoded_slash_in_the_raw_request_line_is_refused(
    full_api, token_connection, echo_front
):
    raw = f"/api/v1/connections/{token_connection.pk}/front/me%2Fx"
    response = full_api.get(front_url(token_connection, "me/x"), RAW_URI=raw)
    assert response.status_code == 400
    assert echo_front.seen == []


def test_a_control_character_in_the_query_is_refused(full_api, token_connection, echo_front):
    response = full_api.get(front_url(token_connection, "me"), QUERY_STRING="a=1 2")
    assert response.status_code == 400
    assert echo_front.seen == []


def test_a_proxied_call_stamps_the_connection_as_used(full_api, token_connection, echo_front):
    b"".join(full_api.get(front_url(token_connection, "me")).streaming_content)
    token_connection.refresh_from_db()
    assert token_connection.last_used_at is not None
