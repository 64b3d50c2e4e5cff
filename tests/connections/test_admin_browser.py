from __future__ import annotations

import pytest

from connections.models import Connection
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


def test_auth_type_switches_fields_and_choose_all_picks_every_scope(
    page, live_server, operator, oauth_client, front_scopes
):
    sign_in(page, live_server, operator.username)
    page.goto(f"{live_server.url}/admin/connections/connection/add/")

    token_row = page.locator(".field-api_token")
    client_row = page.locator(".field-oauth_client")
    scopes_row = page.locator(".field-scopes")
    assert token_row.is_visible()
    assert not client_row.is_visible() and not scopes_row.is_visible()

    page.select_option("#id_auth_type", "oauth2")
    assert not token_row.is_visible()
    assert client_row.is_visible() and scopes_row.is_visible()
    # Issue 19 item 5: Save and authorize becomes the primary button, Save steps back.
    authorize = page.locator("input[name=_authorize]")
    assert "default" in (authorize.get_attribute("class") or "")
    assert "default" not in (page.locator("input[name=_save]").get_attribute("class") or "")
    # The add (+) and edit (pencil) buttons stand beside the client select.
    assert page.locator("#add_id_oauth_client").is_visible()

    page.fill("#id_name", "Sales inbox")
    page.fill("#id_company_name", "Acme")
    page.select_option("#id_oauth_client", str(oauth_client.pk))
    page.locator("#id_scopes_input").press_sequentially("contacts")
    page.click("#id_scopes_add_all")  # "Choose all" of what the filter shows
    page.locator("#id_scopes_input").fill("")
    page.locator("#id_scopes_input").press("Backspace")  # the filter listens for key presses
    chosen = page.locator("#id_scopes_to option")
    assert chosen.count() == 3  # contacts:read, contacts:write, contacts:delete
    page.click("#id_scopes_add_all")
    assert chosen.count() == 57
    page.click("input[name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/connections/connection/")

    connection = Connection.objects.get(name="Sales inbox")
    assert connection.scopes.count() == 57
    assert connection.oauth_client == oauth_client

    page.goto(f"{live_server.url}/admin/connections/connection/{connection.pk}/change/")
    page.select_option("#id_auth_type", "token")
    assert page.locator(".field-api_token").is_visible()
    assert not page.locator(".field-scopes").is_visible()


def test_the_plus_button_adds_a_client_and_selects_it(page, live_server, operator):
    sign_in(page, live_server, operator.username)
    page.goto(f"{live_server.url}/admin/connections/connection/add/")
    page.select_option("#id_auth_type", "oauth2")
    with page.expect_popup() as popup_info:
        page.click("#add_id_oauth_client")
    popup = popup_info.value
    popup.fill("#id_name", "New Front app")
    popup.fill("#id_client_id", "new-client")
    popup.fill("#id_client_secret", "popup-SECRET-77")
    popup.click("input[name=_save]")
    popup.wait_for_event("close")
    selected = page.locator("#id_oauth_client option:checked")
    assert selected.inner_text() == "New Front app"


def test_the_test_button_sends_nothing_typed_in_the_change_form(
    page, live_server, operator, token_connection, settings
):
    """Issue 9 item 16: Test connection posts its own form; the typed token stays in the page."""
    from tests.conftest import closed_port

    settings.FRONT_API_URL = f"http://127.0.0.1:{closed_port()}"  # the test fails fast, locally
    sign_in(page, live_server, operator.username)
    page.goto(f"{live_server.url}/admin/connections/connection/{token_connection.pk}/change/")
    page.fill("#id_api_token", "typed-token-NOT-SAVED-5555")
    page.fill("#id_name", "Renamed but not saved")
    with page.expect_request(lambda r: r.url.endswith("/test/")) as posted:
        page.click("button[form=fc-test-form]")
    request = posted.value
    assert request.method == "POST"
    body = request.post_data or ""
    assert "typed-token-NOT-SAVED-5555" not in body and "Renamed" not in body
    assert body.startswith("csrfmiddlewaretoken=") and "&" not in body
    page.wait_for_url(
        f"{live_server.url}/admin/connections/connection/{token_connection.pk}/change/"
    )
    token_connection.refresh_from_db()
    assert token_connection.name == "Support inbox"
