"""A team member's whole self-service journey in headless Chromium, against the Front stand-in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from connections.models import AuthType, Connection, Status
from oauthclients.models import OAuthClient
from tests.conftest import API_TOKEN, CLIENT_SECRET, PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/connections/")
    page.wait_for_url(re.compile(r"/accounts/login/\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/connections/")


def test_member_creates_token_and_oauth_connections_and_authorizes(
    page, live_server, owner, oauth_client, front_settings, settings, front_scopes
):
    settings.FRONTCONNECT_BASE_URL = live_server.url
    sign_in(page, live_server, owner.username)
    assert page.get_by_text("No connections yet").is_visible()
    assert page.get_by_role("link", name="Admin").count() == 0

    # A Token connection is tested as soon as it is saved.
    page.get_by_role("link", name="Add your first connection").click()
    page.wait_for_url(f"{live_server.url}/connections/new/")
    page.wait_for_load_state()
    expect(page.locator(".field-api_token")).to_be_visible()
    expect(page.locator(".field-scopes")).to_be_hidden()
    expect(page.locator(".field-oauth_client")).to_be_hidden()
    expect(page.get_by_role("button", name="Save and authorize")).to_be_hidden()
    page.get_by_label("Name your connection").fill("Support inbox")
    page.get_by_label("Company name").fill("Acme")
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/connections/\d+/$"))
    expect(page.locator(".status.status-online")).to_have_text("Online")
    assert page.get_by_text("Stand-in Paper Company").first.is_visible()
    assert API_TOKEN not in page.content()

    # An OAuth 2.0 connection with every scope, authorized through the stand-in.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My connections").click()
    page.get_by_role("link", name="Add a connection").click()
    page.wait_for_url(f"{live_server.url}/connections/new/")
    page.wait_for_load_state()
    page.get_by_label("Auth type").select_option("oauth2")
    expect(page.locator(".field-api_token")).to_be_hidden()
    expect(page.locator(".field-scopes")).to_be_visible()
    expect(page.get_by_role("button", name="Save and authorize")).to_be_visible()
    page.get_by_label("Name your connection").fill("Sales inbox")
    page.get_by_label("Company name").fill("Acme")
    page.get_by_label("OAuth 2.0 client").select_option(str(oauth_client.pk))
    assert CLIENT_SECRET not in page.content()
    page.click("#id_scopes_add_all")
    total = front_scopes
    expect(page.locator("#id_scopes_to option")).to_have_count(total)
    assert total > 50
    page.get_by_role("button", name="Save and authorize").click()
    page.wait_for_url(re.compile(r"/oauth/authorize\?"))
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url(re.compile(r"/connections/\d+/$"))
    expect(page.locator(".status.status-online")).to_have_text("Online")

    sales = Connection.objects.get(owner=owner, name="Sales inbox")
    assert sales.auth_type == AuthType.OAUTH2
    assert sales.status == Status.ONLINE
    assert sales.scopes.count() == total
    assert "code=" not in page.url and "state=" not in page.url

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My connections").click()
    page.wait_for_url(f"{live_server.url}/connections/")
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.locator(".status.status-online")).to_have_count(2)


def test_a_second_member_gets_404_on_the_first_members_pages(
    page, live_server, owner, stranger, token_connection
):
    sign_in(page, live_server, stranger.username)
    for suffix in ("", "edit/", "delete/"):
        response = page.goto(f"{live_server.url}/connections/{token_connection.pk}/{suffix}")
        assert response.status == 404
    page.goto(f"{live_server.url}/connections/")
    assert page.get_by_text("Support inbox").count() == 0


def test_an_operator_adds_a_client_from_the_form_and_it_is_selected(page, live_server, operator):
    sign_in(page, live_server, operator.username)
    expect(page.get_by_role("link", name="Admin")).to_be_visible()
    page.goto(f"{live_server.url}/connections/new/")
    page.get_by_label("Auth type").select_option("oauth2")
    with page.expect_popup() as popup_info:
        page.click("#add_id_oauth_client")
    popup = popup_info.value
    popup.wait_for_load_state()
    popup.fill("#id_name", "Popup app")
    popup.fill("#id_client_id", "popup-client-id")
    popup.fill("#id_client_secret", CLIENT_SECRET)
    popup.click("input[name=_save]")
    popup.wait_for_event("close")
    created = OAuthClient.objects.get(name="Popup app")
    expect(page.locator("#id_oauth_client")).to_have_value(str(created.pk))
    assert CLIENT_SECRET not in page.content()
