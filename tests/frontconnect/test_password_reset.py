"""Issue 19 item 5: members reset a forgotten password by email, through a real SMTP server."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.alerts.conftest import body_of, smtp_server  # noqa: F401 - the fixture
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-long-passphrase-for-alice-7"


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"
    settings.ALLOWED_HOSTS = ["testserver", "localhost"]


def ask(client: Client, email: str):
    return client.post("/accounts/password-reset/", {"email": email})


def test_a_member_resets_a_forgotten_password_by_email(smtp_server, owner):  # noqa: F811
    anonymous = Client()
    login_page = anonymous.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password-reset/"' in login_page

    response = ask(anonymous, "alice@example.com")
    assert response.status_code == 302 and response.url == "/accounts/password-reset/sent/"
    assert "Check your email" in anonymous.get(response.url).content.decode()

    (message,) = smtp_server.messages
    assert smtp_server.envelopes[0][1] == ["alice@example.com"]
    assert message["Subject"] == "FrontConnect: set a new password"
    body = body_of(message)
    link = re.search(r"https://fc\.example\.com(/accounts/reset/\S+/)", body)
    assert link is not None, body

    # Django moves the token out of the URL into the session before showing the form.
    form_page = anonymous.get(link.group(1), follow=True)
    assert "Set a new password" in form_page.content.decode()
    done = anonymous.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done.status_code == 302 and done.url == "/accounts/reset/done/"
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD) and not owner.check_password(PASSWORD)

    # The link works once.
    again = anonymous.get(link.group(1), follow=True).content.decode()
    assert "This link no longer works" in again


def test_an_unknown_address_gets_the_same_answer_and_no_email(smtp_server, owner):  # noqa: F811
    known, unknown = ask(Client(), "alice@example.com"), ask(Client(), "nobody@example.com")
    assert (known.status_code, known.url) == (unknown.status_code, unknown.url)
    assert len(smtp_server.messages) == 1  # only alice's


def test_the_link_is_built_from_the_base_url_not_the_host_header(smtp_server, owner):  # noqa: F811
    ask(Client(HTTP_HOST="localhost"), "alice@example.com")
    body = body_of(smtp_server.messages[0])
    assert "https://fc.example.com/accounts/reset/" in body
    assert "localhost" not in body


def test_the_admin_sign_in_page_links_to_the_reset():
    content = Client().get("/admin/login/").content.decode()
    assert 'href="/accounts/password-reset/"' in content
