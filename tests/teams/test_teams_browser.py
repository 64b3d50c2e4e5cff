"""Done when: a team of three shares a connection end to end in headless Chromium, against the
Front stand-in. Ann creates the team, adds Bob and Cat, adds a connection to it and issues the
team's API key for a service; Bob tests the connection; Ann leaves through Offboard in the
admin; the connection stays Online and the service's key keeps working."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from api.models import ApiKey
from connections.models import Connection, Status
from tests.conftest import API_TOKEN, PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def signed_in(browser, live_server, username: str):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/connections/$|/admin/$"))
    return context, page


def test_a_team_of_three_shares_a_connection_that_outlives_its_creator(
    browser, live_server, settings, front_settings, operator
):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.FRONTCONNECT_BASE_URL = live_server.url
    users = get_user_model()
    for name in ("ann", "bob", "cat"):
        users.objects.create_user(name, f"{name}@example.com", PASSWORD)

    # Ann creates the team and adds Bob (member) and Cat (admin).
    ann_context, ann = signed_in(browser, live_server, "ann")
    ann.get_by_role("navigation", name="Main").get_by_role("link", name="My teams").click()
    ann.get_by_label("Name").fill("Support")
    ann.get_by_role("button", name="Create the team").click()
    ann.wait_for_url(re.compile(r"/teams/\d+/$"))
    team_url = ann.url
    for person, role in (("bob", "member"), ("cat@example.com", "admin")):
        ann.get_by_label("Username or email").fill(person)
        ann.locator("#id_role").select_option(role)
        ann.get_by_role("button", name="Add", exact=True).click()
        ann.wait_for_url(team_url)
    expect(ann.get_by_role("rowheader", name=re.compile("^bob"))).to_be_visible()
    expect(ann.get_by_role("rowheader", name=re.compile("^cat"))).to_be_visible()

    # She adds a connection to the team: it is tested against the stand-in on saving.
    ann.get_by_role("link", name="Add a connection").click()
    ann.wait_for_load_state()
    expect(ann.get_by_label("Belongs to")).to_have_value(re.compile(r"\d+"))
    ann.get_by_label("Name your connection").fill("Shared inbox")
    ann.get_by_label("Company name").fill("Acme")
    ann.get_by_label("API token").fill(API_TOKEN)
    ann.get_by_role("button", name="Save", exact=True).click()
    ann.wait_for_url(re.compile(r"/connections/\d+/$"))
    expect(ann.locator(".status.status-online")).to_have_text("Online")
    expect(ann.get_by_text("Team Support")).to_be_visible()
    connection_url = ann.url

    # And issues the team's API key for a service: shown once.
    ann.goto(team_url)
    ann.locator("#id_name").fill("Helpdesk service")
    ann.get_by_label("Get an access token").check()
    ann.get_by_label("Read connection details").check()
    ann.get_by_role("button", name="Create the key").click()
    ann.wait_for_url(re.compile(r"/keys/\d+/created/$"))
    service_key = ann.locator("#api-key-value").input_value()
    assert service_key.startswith("fc_live_")
    ann_context.close()

    # Bob, a member, sees the connection and tests it.
    bob_context, bob = signed_in(browser, live_server, "bob")
    expect(bob.get_by_role("link", name="Shared inbox")).to_be_visible()
    bob.goto(connection_url)
    expect(bob.get_by_role("link", name="Edit")).to_have_count(0)
    bob.get_by_role("button", name="Test connection").click()
    bob.wait_for_url(connection_url)
    expect(bob.locator(".status.status-online")).to_have_text("Online")
    bob_context.close()

    # Ann leaves: an operator offboards her into the team in the admin.
    ann_user = users.objects.get(username="ann")
    op_context, op = signed_in(browser, live_server, operator.username)
    op.goto(f"{live_server.url}/admin/auth/user/")
    op.locator(f"input[name='_selected_action'][value='{ann_user.pk}']").check()
    op.locator("select[name='action']").select_option("offboard")
    op.get_by_role("button", name="Go").click()
    op.get_by_label("Or to this team").select_option(label="Support")
    op.get_by_role("button", name="Offboard").click()
    expect(op.get_by_text(re.compile("Ann is offboarded to team Support"))).to_be_visible()
    op_context.close()

    ann_user.refresh_from_db()
    shared = Connection.objects.get(name="Shared inbox")
    assert not ann_user.is_active
    assert shared.status == Status.ONLINE and shared.api_token == API_TOKEN
    assert ApiKey.objects.get(name="Helpdesk service").created_by.username == "cat"

    # The service's key keeps working: it reads the connection and gets its token.
    service = browser.new_context(extra_http_headers={"Authorization": f"Bearer {service_key}"})
    read = service.request.get(f"{live_server.url}/api/v1/connections/{shared.pk}/")
    assert read.status == 200 and read.json()["status"] == "online"
    assert read.json()["team"] == "Support"
    token = service.request.post(f"{live_server.url}/api/v1/connections/{shared.pk}/access-token/")
    assert token.status == 200 and token.json()["access_token"] == API_TOKEN
    service.close()
