"""End to end: an operator clicks Save and authorize, accepts in Front, and sees Online."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from connections.models import Action, Event, Scope, Status
from tests.conftest import PASSWORD
from tests.front_standin import COMPANY_NAME

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scoped_connection(oauth_connection):
    """The OAuth connection with its scopes, which an earlier test's flush may have removed."""
    scopes = [Scope.objects.get_or_create(code=code)[0] for code in ("contacts:read",)]
    oauth_connection.scopes.set(scopes)
    return oauth_connection


def test_save_and_authorize_round_trip(
    page, live_server, settings, front_standin, operator, scoped_connection
):
    oauth_connection = scoped_connection
    settings.FRONT_OAUTH_AUTHORIZE_URL = front_standin.authorize_url
    settings.FRONT_OAUTH_TOKEN_URL = front_standin.token_url
    settings.FRONT_API_URL = front_standin.url
    settings.FRONTCONNECT_BASE_URL = live_server.url

    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(operator.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    change = f"{live_server.url}/admin/connections/connection/{oauth_connection.pk}/change/"
    page.goto(change)

    page.get_by_role("button", name="Save and authorize").click()
    page.wait_for_url(f"{front_standin.authorize_url}?**")
    page.get_by_role("button", name="Accept").click()

    page.wait_for_url(change)
    expect(page.locator(".messagelist")).to_contain_text("is authorized and Online")
    expect(page.locator(".field-status_display")).to_contain_text("Online")
    expect(page.locator(".field-front_company")).to_contain_text(COMPANY_NAME)
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.ONLINE
    assert front_standin.token_requests == ["authorization_code"]
    assert Event.objects.filter(action=Action.AUTHORIZED, success=True).count() == 1
    content = page.content()
    assert oauth_connection.access_token not in content
    assert oauth_connection.refresh_token not in content


def test_the_save_and_authorize_button_hides_for_token(page, live_server, operator, owner):
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(operator.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/admin/connections/connection/add/")
    button = page.locator("input[name=_authorize]")
    page.get_by_label("Auth type").select_option("token")
    expect(button).to_be_hidden()
    page.get_by_label("Auth type").select_option("oauth2")
    expect(button).to_be_visible()
