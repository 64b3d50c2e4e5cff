"""The Front stand-in's pytest fixtures; the stand-in itself is ``demo/standin.py``.

``make demo`` serves the same stand-in, so what the demo shows is what the tests prove.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from demo.standin import COMPANY_ID, COMPANY_NAME, StandinFront, main, standin_serve

__all__ = [
    "COMPANY_ID",
    "COMPANY_NAME",
    "StandinFront",
    "front_settings",
    "front_standin",
    "standin_accept",
    "standin_serve",
]


def standin_accept(authorize_url: str) -> str:
    """A person accepting on the stand-in's consent page: the callback's path and query.

    Made without FrontConnect's client or logging: the browser's visit to Front is not
    FrontConnect's traffic.
    """
    decide = urlsplit(authorize_url.replace("/oauth/authorize", "/oauth/decide"))
    browser = http.client.HTTPConnection(decide.netloc, timeout=5)
    try:
        browser.request("GET", f"{decide.path}?{decide.query}&decision=accept")
        callback = urlsplit(browser.getresponse().getheader("Location") or "")
    finally:
        browser.close()
    return f"{callback.path}?{callback.query}"


@pytest.fixture
def front_standin() -> Iterator[StandinFront]:
    """A running stand-in for Front on a free port of 127.0.0.1, knowing the test OAuth client."""
    from tests.conftest import API_TOKEN, CLIENT_SECRET

    front = StandinFront(client_id="client-id-123", client_secret=CLIENT_SECRET)
    front.api_tokens.add(API_TOKEN)
    server = standin_serve(front)
    yield front
    server.shutdown()
    server.server_close()


@pytest.fixture
def front_settings(settings, front_standin: StandinFront) -> StandinFront:
    """Point FrontConnect's Front URLs at the stand-in."""
    settings.FRONT_OAUTH_AUTHORIZE_URL = front_standin.authorize_url
    settings.FRONT_OAUTH_TOKEN_URL = front_standin.token_url
    settings.FRONT_API_URL = front_standin.url
    return front_standin


if __name__ == "__main__":
    main()  # the benchmarks' ``python -m tests.front_standin``, kept working
