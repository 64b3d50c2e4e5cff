from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import PASSWORD


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_repeated_failures_lock_the_sign_in_for_a_while(client, operator, url, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        response = client.post(url, {"username": operator.username, "password": "wrong"})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert b"Try again in 15 minutes" in response.content
    # Even the right password is refused until the lockout ends.
    response = client.post(url, {"username": operator.username, "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_few_failures_then_success_signs_in(client, owner, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(get_user_model().objects.get(username="alice").pk)


def test_the_lockout_is_per_username(client, owner, stranger, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "mallory", "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("cooloff", "words"),
    [
        (timedelta(minutes=15), "15 minutes"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(days=1), "1 day"),
        (timedelta(days=2, hours=3), "2 days, 3 hours"),
    ],
)
def test_the_lockout_page_says_how_long_in_words(client, owner, settings, cooloff, words):
    """Issue 9 item 19: a lockout of a day or more said "0 minutes"."""
    settings.AXES_FAILURE_LIMIT = 1
    settings.AXES_COOLOFF_TIME = cooloff
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    content = response.content.decode()
    assert f"Try again in {words}," in content
    assert "0 minutes" not in content
