"""Sign-in and sign-out, and login required everywhere except the sign-in page and /healthz."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def test_the_sign_in_page_is_open_to_everyone(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert b'<label for="id_username">Username:</label>' in response.content
    assert b'<label for="id_password">Password:</label>' in response.content


def test_a_team_member_lands_on_their_connections(client, owner):
    response = client.post(LOGIN, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/connections/"


def test_a_wrong_password_is_refused_in_words_and_not_echoed(client, owner):
    response = client.post(LOGIN, {"username": "alice", "password": "wrong-SECRET-pass"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert b"wrong-SECRET-pass" not in response.content
    assert "_auth_user_id" not in client.session


def test_a_safe_next_url_is_followed(client, owner):
    response = client.post(
        LOGIN, {"username": "alice", "password": PASSWORD, "next": "/connections/new/"}
    )
    assert response["Location"] == "/connections/new/"


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"]
)
def test_an_offsite_next_url_is_ignored(client, owner, next_url):
    page = client.get(LOGIN, {"next": next_url})
    assert next_url.encode() not in page.content
    response = client.post(LOGIN, {"username": "alice", "password": PASSWORD, "next": next_url})
    assert response["Location"] == "/connections/"


def test_staff_see_a_link_to_the_admin_and_members_do_not(client, owner, operator):
    client.force_login(owner)
    assert b'href="/admin/"' not in client.get("/connections/").content
    client.force_login(operator)
    assert b'href="/admin/">Admin</a>' in client.get("/connections/").content


def test_sign_out_is_a_post_and_ends_the_session(client, owner):
    client.force_login(owner)
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get("/connections/").status_code == 302


def test_sign_out_needs_the_csrf_token(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post("/accounts/logout/").status_code == 403
    assert "_auth_user_id" in client.session


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/connections/",
        "/connections/new/",
        "/connections/1/",
        "/jsi18n/",
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN + "?next=")


def test_anonymous_visitors_are_sent_to_the_admin_sign_in_for_the_admin(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_an_anonymous_oauth_callback_is_refused_without_copying_code_or_state(client):
    # A sign-in redirect would carry the code and state into the login page's "next" field.
    response = client.get("/oauth/callback/", {"state": "state-SECRET-7777", "code": "code-SECRET"})
    assert response.status_code == 403
    assert "Location" not in response
    assert b"state-SECRET-7777" not in response.content
    assert b"code-SECRET" not in response.content


def test_healthz_needs_no_sign_in(client, db):
    from connections.beat import scheduler_lock_take
    from connections.upkeep import heartbeat_record

    heartbeat_record()
    scheduler_lock_take("beat on host (pid 1)")
    assert client.get("/healthz").status_code == 200


def test_a_signed_in_member_is_not_shown_the_sign_in_form_again(client, owner):
    client.force_login(owner)
    response = client.get(LOGIN)
    assert response.status_code == 302
    assert response["Location"] == "/connections/"


def test_a_team_member_cannot_reach_the_admin(client, owner):
    client.force_login(owner)
    response = client.get("/admin/connections/connection/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
