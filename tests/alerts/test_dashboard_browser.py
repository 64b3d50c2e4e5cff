from __future__ import annotations

import pytest

from connections.models import Connection, Source, Status
from connections.status import connection_status_set
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def make(owner, name: str, status: Status) -> Connection:
    connection = Connection(name=name, company_name="Acme", owner=owner)
    connection.api_token = "tok-SECRET-5555"
    connection.save()
    connection_status_set(
        connection=connection, status=status, reason="Checked.", source=Source.COMMAND
    )
    return connection


def test_an_operator_sees_the_dashboard_and_opens_the_offline_list(
    page, live_server, operator, owner
):
    make(owner, "Billing inbox", Status.OFFLINE)
    make(owner, "Support inbox", Status.OFFLINE)
    make(owner, "Sales inbox", Status.ONLINE)

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", operator.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")

    dashboard = page.locator("#fc-dashboard")
    assert dashboard.is_visible()
    assert dashboard.locator("a[data-status=offline] strong").inner_text() == "2"
    assert dashboard.locator("a[data-status=online] strong").inner_text() == "1"
    chart = dashboard.locator("svg.fc-chart")
    assert chart.is_visible()
    assert chart.locator("polyline").count() == len(Status)
    box = chart.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 50
    assert dashboard.locator(".fc-attention").get_by_text("Billing inbox").is_visible()

    dashboard.locator("a[data-status=offline]").click()
    page.wait_for_url(f"{live_server.url}/admin/connections/connection/?status__exact=offline")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert "Billing inbox" in rows.nth(0).inner_text()
    assert "Sales inbox" not in page.locator("#result_list").inner_text()
