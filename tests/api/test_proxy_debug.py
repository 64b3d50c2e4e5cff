"""Issue 15 item 9: in DEBUG an error page's frame locals never show a Front token."""

from __future__ import annotations

import sys

import pytest
from django.core.signals import got_request_exception
from django.views.debug import ExceptionReporter

from api.models import Permission
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db


def boom(*args, **kwargs):
    raise RuntimeError("forced failure")


@pytest.mark.parametrize(
    "where",
    [
        "api.proxy.budget.budget_wait",  # in the proxy, once the token is known
        "connections.front.api._timeout",  # inside the Front client, with the header built
        "connections.front.api._transport_checked",
    ],
)
def test_a_debug_error_page_of_the_proxy_shows_no_token(
    where, make_key, api, token_connection, echo_front, settings, monkeypatch
):
    settings.DEBUG = True
    settings.FRONT_API_URL = echo_front.url
    monkeypatch.setattr(where, boom)
    client = api(make_key([Permission.PROXY]).plaintext)
    client.raise_request_exception = False
    caught = {}

    def keep(sender, request, **kwargs):
        caught["request"], caught["exc_info"] = request, sys.exc_info()

    got_request_exception.connect(keep)
    try:
        response = client.get(f"/api/v1/connections/{token_connection.pk}/front/me")
    finally:
        got_request_exception.disconnect(keep)
    assert response.status_code == 500
    assert API_TOKEN.encode() not in response.content
    reporter = ExceptionReporter(caught["request"], *caught["exc_info"])
    for report in (reporter.get_traceback_html(), reporter.get_traceback_text()):
        assert "forced failure" in report
        assert API_TOKEN not in report
    assert echo_front.seen == []
