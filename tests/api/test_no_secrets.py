"""No API answer carries a secret, except the access-token endpoint's one token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import Permission
from connections.models import AuthType
from tests.conftest import API_TOKEN, CLIENT_SECRET

pytestmark = pytest.mark.django_db

SUBMITTED = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.submitted-SECRET-4444"


@pytest.fixture
def secrets_in_play(front_settings, oauth_connection, token_connection):
    tokens = front_settings.issue()
    oauth_connection.access_token = str(tokens["access_token"])
    oauth_connection.refresh_token = str(tokens["refresh_token"])
    oauth_connection.access_token_expires_at = timezone.now() + timedelta(hours=1)
    oauth_connection.save()
    return [API_TOKEN, CLIENT_SECRET, SUBMITTED, *map(str, tokens.values())]


def leaks(response, secrets) -> list[str]:
    body = (
        b"".join(response.streaming_content) if response.streaming else response.content
    ).decode()
    headers = str(dict(response.items()))
    return [secret for secret in secrets if len(secret) > 12 and secret in body + headers]


def test_no_answer_but_the_access_token_carries_a_secret(
    full_api, make_key, api, secrets_in_play, oauth_connection, token_connection, echo_front
):
    base = "/api/v1/connections/"
    token_detail = f"{base}{token_connection.pk}/"
    read_only = api(make_key([Permission.READ]).plaintext)
    answers = [
        full_api.get(base),
        full_api.get(token_detail),
        full_api.get(f"{base}{oauth_connection.pk}/"),
        full_api.patch(token_detail, {"name": "Renamed", "api_token": SUBMITTED}, format="json"),
        full_api.patch(token_detail, {"api_token": SUBMITTED + " \x01"}, format="json"),
        full_api.post(
            base,
            {
                "name": "N",
                "company_name": "C",
                "auth_type": AuthType.OAUTH2,
                "api_token": SUBMITTED,
            },
            format="json",
        ),  # fmt: skip
        full_api.post(f"{base}{oauth_connection.pk}/test/"),
        full_api.get(f"{base}{token_connection.pk}/front/me"),
        read_only.post(f"{base}{token_connection.pk}/access-token/"),
        read_only.get(f"{base}{token_connection.pk}/front/me"),
    ]
    for response in answers:
        assert leaks(response, secrets_in_play) == [], response.request
    granted = full_api.post(f"{base}{oauth_connection.pk}/access-token/")
    assert granted.status_code == 200
    assert leaks(granted, secrets_in_play) == [granted.json()["access_token"]]
