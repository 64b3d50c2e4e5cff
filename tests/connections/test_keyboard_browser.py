"""Issue 19 item 6: adding a connection and authorizing it works with the keyboard alone.

No click and no ``fill``: every control is reached with Tab (so it is in the focus order) and
used with Enter, Space, typing, or the arrow keys a select box answers to, against the stand-in.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from connections.models import AuthType, Connection, Status
from tests.a11y import assert_accessible
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX_TABS = 60


def focused(page) -> str:
    """What has the focus, as a short description for failure messages."""
    return page.evaluate(
        "() => { const e = document.activeElement; "
        "return e ? `${e.tagName} ${e.id || ''} ${(e.textContent || '').trim().slice(0, 40)}` "
        ": 'nothing'; }"
    )


def tab_to(page, selector: str) -> None:
    """Press Tab until the element matching ``selector`` has the focus (or fail)."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate(
            "(selector) => !!document.activeElement && document.activeElement.matches(selector)",
            selector,
        ):
            return
    raise AssertionError(f"Tab never reached {selector}; the focus ended on {focused(page)}")


def test_a_member_adds_and_authorizes_a_connection_with_the_keyboard_alone(
    page, live_server, owner, oauth_client, front_settings, settings, front_scopes
):
    settings.FRONTCONNECT_BASE_URL = live_server.url
    page.goto(f"{live_server.url}/accounts/login/")

    tab_to(page, "#id_username")
    page.keyboard.type(owner.username)
    tab_to(page, "#id_password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/connections/")

    tab_to(page, "a[href='/connections/new/']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/connections/new/")
    page.wait_for_load_state("load")

    tab_to(page, "#id_name")
    page.keyboard.type("Sales inbox")
    tab_to(page, "#id_company_name")
    page.keyboard.type("Acme")
    tab_to(page, "#id_auth_type")
    page.keyboard.type("OAuth")  # a select box jumps to the option starting with what is typed
    expect(page.locator("#id_auth_type")).to_have_value(AuthType.OAUTH2)
    tab_to(page, "#id_oauth_client")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#id_oauth_client")).to_have_value(str(oauth_client.pk))
    tab_to(page, "#id_scopes_add_all")
    page.keyboard.press("Enter")
    expect(page.locator("#id_scopes_to option")).to_have_count(front_scopes)
    tab_to(page, "button[data-oauth-only]")
    page.keyboard.press("Enter")

    page.wait_for_url(re.compile(r"/oauth/authorize\?"))
    assert_accessible(page)
    tab_to(page, "button[value=accept]")
    page.keyboard.press("Space")

    page.wait_for_url(re.compile(r"/connections/\d+/$"))
    expect(page.locator(".status.status-online")).to_have_text("Online")
    connection = Connection.objects.get(owner=owner, name="Sales inbox")
    assert connection.status == Status.ONLINE
    assert connection.scopes.count() == front_scopes
    assert front_settings.token_requests == ["authorization_code"]


def test_an_operator_adds_and_authorizes_in_the_admin_with_the_keyboard_alone(
    page, live_server, operator, owner, oauth_client, front_settings, settings, front_scopes
):
    settings.FRONTCONNECT_BASE_URL = live_server.url
    page.goto(f"{live_server.url}/admin/login/")
    tab_to(page, "#id_username")
    page.keyboard.type(operator.username)
    tab_to(page, "#id_password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/admin/")

    tab_to(page, "a[href='/admin/connections/connection/add/']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/admin/connections/connection/add/")
    page.wait_for_load_state("load")
    tab_to(page, ".skip-to-content-link")  # past the header and the sidebar's every model
    page.keyboard.press("Enter")
    tab_to(page, "#id_name")
    page.keyboard.type("Admin inbox")
    tab_to(page, "#id_company_name")
    page.keyboard.type("Acme")
    tab_to(page, "#id_auth_type")
    page.keyboard.type("OAuth")
    expect(page.locator("#id_auth_type")).to_have_value(AuthType.OAUTH2)
    tab_to(page, "#id_oauth_client")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#id_oauth_client")).to_have_value(str(oauth_client.pk))
    tab_to(page, "#id_scopes_add_all")
    page.keyboard.press("Space")
    expect(page.locator("#id_scopes_to option")).to_have_count(front_scopes)
    tab_to(page, "input[name=_authorize]")
    page.keyboard.press("Enter")

    page.wait_for_url(re.compile(r"/oauth/authorize\?"))
    tab_to(page, "button[value=accept]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/admin/connections/connection/\d+/change/$"))
    expect(page.locator(".field-status_display")).to_contain_text("Online")
    assert Connection.objects.get(name="Admin inbox").status == Status.ONLINE


def test_every_control_on_the_way_shows_where_the_focus_is(page, live_server, owner):
    """A keyboard user must see the focus: the focused control gets a visible outline."""
    page.goto(f"{live_server.url}/accounts/login/")
    tab_to(page, "#id_username")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    tab_to(page, "button[type=submit]")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
