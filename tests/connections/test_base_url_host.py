"""Issue 19 item 5: a page opened on another host than FRONTCONNECT_BASE_URL warns, and the
OAuth 2.0 return that fails for that reason says so (not "another browser session")."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from connections.models import PendingAuthorization

pytestmark = pytest.mark.django_db

WARNING = "You opened FrontConnect at http://localhost:8000, but it is set up at"


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.FRONTCONNECT_BASE_URL = "http://127.0.0.1:8000"
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
    settings.FRONT_OAUTH_AUTHORIZE_URL = "https://app.frontapp.com/oauth/authorize"


def test_the_sign_in_and_connection_pages_warn_on_another_host(owner, oauth_connection):
    anonymous = Client(HTTP_HOST="localhost:8000")
    assert WARNING in anonymous.get("/accounts/login/").content.decode()
    assert WARNING in anonymous.get("/admin/login/").content.decode()
    member = Client(HTTP_HOST="localhost:8000")
    member.force_login(owner)
    for url in ("/connections/", oauth_connection.get_absolute_url()):
        assert WARNING in member.get(url).content.decode()


def test_no_warning_on_the_configured_host(owner):
    same = Client(HTTP_HOST="127.0.0.1:8000")
    assert "fc-host-warning" not in same.get("/accounts/login/").content.decode()
    assert "fc-host-warning" not in same.get("/admin/login/").content.decode()


def test_the_callback_says_the_host_differs_when_that_is_why_it_failed(owner, oauth_connection):
    # Signed in on localhost; Front returns to 127.0.0.1, where the browser has no session.
    on_localhost = Client(HTTP_HOST="localhost:8000")
    on_localhost.force_login(owner)
    response = on_localhost.post(reverse("connections:authorize", args=[oauth_connection.pk]))
    assert response.status_code == 302
    state = parse_qs(urlsplit(response.url).query)["state"][0]
    assert PendingAuthorization.objects.get().started_at == "http://localhost:8000"

    returned = Client(HTTP_HOST="127.0.0.1:8000")
    content = returned.get("/oauth/callback/", {"state": state, "code": "c"}).content.decode()
    assert "started at http://localhost:8000, but Front returns to http://127.0.0.1:8000" in (
        content
    )
    assert "another browser session" not in content


def test_another_session_on_the_same_host_is_still_called_that(owner, oauth_connection):
    member = Client(HTTP_HOST="127.0.0.1:8000")
    member.force_login(owner)
    response = member.post(reverse("connections:authorize", args=[oauth_connection.pk]))
    state = parse_qs(urlsplit(response.url).query)["state"][0]

    other = Client(HTTP_HOST="127.0.0.1:8000")
    content = other.get("/oauth/callback/", {"state": state, "code": "c"}).content.decode()
    assert "another browser session" in content
