"""Issue 19 item 5: the API key form shows only the reach field the chosen scope needs."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_reach_fields_follow_the_scope(page, live_server, operator):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", operator.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/api/apikey/add/")

    users, connections = page.locator(".field-users"), page.locator(".field-connections")
    page.select_option("#id_scope", "users")
    assert users.is_visible() and not connections.is_visible()
    page.select_option("#id_scope", "connections")
    assert connections.is_visible() and not users.is_visible()
    page.select_option("#id_scope", "all")
    assert not users.is_visible() and not connections.is_visible()
