"""The list and the form fit 375 px and 1280 px screens; FRONTCONNECT_SCREENSHOTS=DIR saves PNGs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from connections.models import AuthType, Connection, Status
from tests.conftest import API_TOKEN, PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


WIDTHS = [375, 1280]


@pytest.fixture
def signed_in(page, live_server, owner):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/connections/")
    return page


def sample_connections(owner, oauth_client):
    rows = [
        ("Support inbox", "Acme Corporation", AuthType.TOKEN, Status.ONLINE),
        ("Sales pipeline", "Acme Corporation", AuthType.OAUTH2, Status.REAUTHORIZE),
        ("Billing", "Globex", AuthType.TOKEN, Status.OFFLINE),
        ("Marketing campaigns", "Initech", AuthType.OAUTH2, Status.NOT_AUTHORIZED),
    ]
    for name, company, auth_type, status in rows:
        connection = Connection(
            name=name, company_name=company, auth_type=auth_type, status=status, owner=owner
        )
        if auth_type == AuthType.TOKEN:
            connection.api_token = API_TOKEN
        else:
            connection.oauth_client = oauth_client
        connection.save()


def fits(page, width: int) -> None:
    page.wait_for_load_state("networkidle")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width}px wide on a {width}px screen"


def save(page, name: str) -> None:
    target = os.environ.get("FRONTCONNECT_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_list_fits_the_screen(signed_in, live_server, owner, oauth_client, width):
    page = signed_in
    sample_connections(owner, oauth_client)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server.url}/connections/")
    expect(page.get_by_text("Needs reauthorization")).to_be_visible()
    fits(page, width)
    save(page, f"list-{width}")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_form_fits_the_screen(signed_in, live_server, oauth_client, front_scopes, width):
    page = signed_in
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/connections/new/")
    page.get_by_label("Auth type").select_option("oauth2")
    page.get_by_label("Name your connection").fill("Sales pipeline")
    page.get_by_label("Company name").fill("Acme Corporation")
    page.get_by_label("OAuth 2.0 client").select_option(str(oauth_client.pk))
    page.locator("#id_scopes_from").select_option(label=["contacts:read", "conversations:read"])
    page.click("#id_scopes_add")
    expect(page.locator("#id_scopes_to option")).to_have_count(2)
    fits(page, width)
    save(page, f"form-{width}")


@pytest.mark.parametrize("width", WIDTHS)
def test_the_connection_page_fits_the_screen(signed_in, live_server, owner, oauth_client, width):
    page = signed_in
    sample_connections(owner, oauth_client)
    connection = Connection.objects.get(name="Sales pipeline")
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server.url}{connection.get_absolute_url()}")
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    fits(page, width)
    save(page, f"detail-{width}")
