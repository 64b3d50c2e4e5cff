"""End to end: a service onboards a Front account with an authorization link.

In a real browser with no FrontConnect session, a link made through the API is used to authorize
against the Front stand-in; the connection is Online, the service's return_url receives
result=authorized, a signed connection.authorized webhook arrives, and the link is refused on a
second use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook as StandardWebhook

from alerts.models import Webhook
from api.models import ApiKey, Permission
from connections import lifecycle
from connections.models import AuthorizationLink, Connection, LinkResult, Scope, Status
from tests.front_standin import COMPANY_NAME

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Service:
    """The onboarding service: its return page (GET /done) and its webhook receiver (POST)."""

    url: str = ""
    returns: list[dict[str, list[str]]] = field(default_factory=list)
    webhooks: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def service() -> Iterator[Service]:
    state = Service()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/done":  # not the browser's /favicon.ico
                state.returns.append(parse_qs(parts.query))
            body = b"<!doctype html><title>Service</title><h1>Back at the service</h1>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.webhooks.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


def test_a_service_onboards_a_front_account_with_an_api_link(
    page, live_server, settings, front_settings, service, owner, oauth_client, make_key
):
    settings.FRONTCONNECT_BASE_URL = live_server.url
    settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK = True
    hook = Webhook(name="Service", url=f"{service.url}/hooks", events=[lifecycle.AUTHORIZED])
    hook.secret = WEBHOOK_SECRET
    hook.save()
    key = make_key([Permission.WRITE, Permission.AUTHORIZE])
    ApiKey.objects.filter(pk=key.key.pk).update(return_origins=[service.url])
    Scope.objects.get_or_create(code="conversations:read")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")

    # The whole onboarding: create the OAuth connection, then its link.
    created = api.post(
        "/api/v1/connections/",
        {
            "name": "New customer",
            "company_name": "Customer Inc",
            "auth_type": "oauth2",
            "oauth_client": oauth_client.pk,
            "scopes": ["conversations:read"],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    connection_id = created.json()["id"]
    made = api.post(
        f"/api/v1/connections/{connection_id}/authorization-link/",
        {"return_url": f"{service.url}/done", "expires_in": 3600},
        format="json",
    )
    assert made.status_code == 201, made.json()
    link_url = made.json()["url"]

    # The Front admin: no FrontConnect session, only the link.
    page.goto(link_url)
    expect(page.locator("main")).to_contain_text("New customer")
    expect(page.locator("main")).to_contain_text("asks a Front admin")
    page.get_by_role("button", name="Authorize with Front").click()
    page.wait_for_url(f"{front_settings.authorize_url}?**")
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url(f"{service.url}/done?**")
    expect(page.locator("h1")).to_have_text("Back at the service")

    assert service.returns == [{"connection": [str(connection_id)], "result": ["authorized"]}]
    connection = Connection.objects.get(pk=connection_id)
    assert connection.status == Status.ONLINE
    assert connection.front_company_name == COMPANY_NAME
    assert AuthorizationLink.objects.get().result == LinkResult.AUTHORIZED
    ((headers, body),) = service.webhooks
    event = StandardWebhook(WEBHOOK_SECRET).verify(body, headers)
    assert event["type"] == "connection.authorized"
    assert event["data"]["how"] == "api"
    assert event["data"]["connection"]["id"] == connection_id
    assert connection.access_token not in body.decode()

    # The same link again: refused in words, and nothing changes.
    second = page.goto(link_url)
    assert second is not None and second.status == 410
    expect(page.locator("main")).to_contain_text("already used")
    expect(page.get_by_role("button", name="Authorize with Front")).to_have_count(0)
    assert front_settings.token_requests == ["authorization_code"]
