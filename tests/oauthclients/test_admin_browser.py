"""The client form in a real browser: renaming a client keeps its secret (issue 9, item 2)."""

from __future__ import annotations

import pytest

from oauthclients.models import OAuthClient
from tests.conftest import CLIENT_SECRET
from tests.connections.test_admin_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_renaming_a_client_keeps_its_secret(page, live_server, operator, oauth_client):
    sign_in(page, live_server, operator.username)
    page.goto(f"{live_server.url}/admin/oauthclients/oauthclient/{oauth_client.pk}/change/")
    assert page.input_value("#id_client_secret") == ""  # the browser posts client_secret=
    page.fill("#id_name", "Renamed app")
    page.click("input[name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/oauthclients/oauthclient/")

    stored = OAuthClient.objects.get(pk=oauth_client.pk)
    assert stored.name == "Renamed app"
    assert stored.client_secret == CLIENT_SECRET
