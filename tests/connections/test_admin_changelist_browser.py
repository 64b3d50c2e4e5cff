"""Issue 19 item 5: the admin's connection list shows the last check and fits 1280 px."""

from __future__ import annotations

import os

import pytest
from django.utils import timezone

from connections.models import AuthType, Connection, Status
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH = 1280


def test_the_connection_list_fits_1280_px_with_the_last_check(page, live_server, operator):
    now = timezone.now()
    for n in range(3):
        Connection.objects.create(
            name=f"Customer support inbox for the northern region number {n}",
            company_name="Acme Corporation International Holdings",
            auth_type=AuthType.TOKEN,
            api_token="tok",
            owner=operator,
            status=Status.OFFLINE,
            last_checked_at=now,
            last_check_result=(
                "Front did not answer GET /me within 10 seconds; try again later. "
                "Front has been unreachable for more than 30 minutes."
            ),
        )
    page.set_viewport_size({"width": WIDTH, "height": 800})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", operator.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/connections/connection/")

    headers = page.locator("#result_list thead th").all_inner_texts()
    assert any("LAST CHECK" in h.upper() for h in headers)
    assert "Front did not answer GET /me" in page.locator("#result_list").inner_text()
    measured = page.evaluate(
        """() => {
        const table = document.querySelector('#result_list');
        const cells = [...table.querySelectorAll('th, td')];
        return {
            tableRight: table.getBoundingClientRect().right,
            pageWidth: document.documentElement.scrollWidth,
            overflowing: cells.filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.className),
        };
    }"""
    )
    assert measured["tableRight"] <= WIDTH, measured
    assert measured["pageWidth"] <= WIDTH, measured
    assert measured["overflowing"] == [], measured
    if shots := os.environ.get("FRONTCONNECT_SCREENSHOTS"):
        page.screenshot(path=f"{shots}/admin-list-1280.png", full_page=True)
