"""Issue 19 item 3 in Chromium: the demo's newcomer tour, from signing in to a proxied call."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from connections.models import Connection, Status
from demo import services
from demo.standin import standin_serve
from tests.a11y import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BANNER = "Demo: not connected to the real Front."


@pytest.fixture
def demo_live(settings, live_server, front_scopes):
    """Demo mode on the live server, Front being the demo's own stand-in."""
    front = services.demo_standin()
    server = standin_serve(front)
    settings.FRONTCONNECT_DEMO = True
    settings.FRONTCONNECT_BASE_URL = live_server.url
    settings.FRONT_API_URL = front.url
    settings.FRONT_OAUTH_AUTHORIZE_URL = front.authorize_url
    settings.FRONT_OAUTH_TOKEN_URL = front.token_url
    yield front
    server.shutdown()
    server.server_close()


def test_a_newcomer_adds_a_token_authorizes_oauth_and_calls_the_proxy(
    page, live_server, demo_live, checks_not_queued
):
    ready = services.demo_prepare()
    page.goto(f"{live_server.url}/demo/")
    expect(page.locator(".demo-banner")).to_contain_text(BANNER)
    assert_accessible(page)
    token = page.locator("table code").first.inner_text()
    assert token in services.TOKENS

    page.get_by_role("link", name="My connections").click()
    page.get_by_label("Username").fill(services.OPERATOR)
    page.get_by_label("Password").fill(ready.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/connections/")
    expect(page.locator(".demo-banner")).to_contain_text(BANNER)

    # A Token connection with a token listed on the demo page.
    page.get_by_role("link", name="Add your first connection").click()
    page.get_by_label("Name your connection").fill("Support inbox")
    page.get_by_label("Company name").fill("Acme")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/connections/\d+/$"))
    expect(page.locator(".status.status-online")).to_have_text("Online")

    # An OAuth 2.0 connection with the pre-configured client: Save and authorize, Accept.
    page.goto(f"{live_server.url}/connections/new/")
    page.get_by_label("Auth type").select_option("oauth2")
    page.get_by_label("Name your connection").fill("Sales inbox")
    page.get_by_label("Company name").fill("Acme")
    page.get_by_label("OAuth 2.0 client").select_option(label=services.CLIENT_NAME)
    page.click("#id_scopes_add_all")
    page.get_by_role("button", name="Save and authorize").click()
    page.wait_for_url(re.compile(r"/oauth/authorize\?"))
    expect(page.get_by_text("not the real Front")).to_be_visible()
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url(re.compile(r"/connections/\d+/$"))
    expect(page.locator(".status.status-online")).to_have_text("Online")
    sales = Connection.objects.get(name="Sales inbox")
    assert sales.status == Status.ONLINE

    # The help page now gives the curl line for each; the printed key makes the call.
    page.goto(f"{live_server.url}/demo/")
    expect(page.get_by_text(f"/api/v1/connections/{sales.pk}/front/me")).to_be_visible()
    answer = page.request.get(
        f"{live_server.url}/api/v1/connections/{sales.pk}/front/me",
        headers={"Authorization": f"Bearer {ready.key.plaintext}"},
    )
    assert answer.status == 200 and answer.json()["name"] == "Stand-in Paper Company"
    assert ready.key.plaintext not in page.content()
