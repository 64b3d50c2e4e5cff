from __future__ import annotations

import pytest

from api import keys
from tests.conftest import closed_port


@pytest.fixture(autouse=True)
def usage_written_on_flush_only(monkeypatch):
    """The demo's proxy calls count usage as in production; no timer outlives a test here."""
    monkeypatch.setattr(keys.proxy_usage, "interval", None)
    yield
    keys.proxy_usage._pending.clear()


@pytest.fixture
def demo_mode(settings, tmp_path):
    """The demo's settings in this test process: demo on, Front at a stand-in on 127.0.0.1."""
    port = closed_port()
    settings.FRONTCONNECT_DEMO = True
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    settings.DEMO_DIR = tmp_path / ".demo"
    settings.FRONTCONNECT_DEMO_PORT = closed_port()
    settings.FRONTCONNECT_DEMO_FRONT_PORT = port
    settings.FRONTCONNECT_BASE_URL = f"http://127.0.0.1:{settings.FRONTCONNECT_DEMO_PORT}"
    settings.FRONT_API_URL = f"http://127.0.0.1:{port}"
    settings.FRONT_OAUTH_AUTHORIZE_URL = f"http://127.0.0.1:{port}/oauth/authorize"
    settings.FRONT_OAUTH_TOKEN_URL = f"http://127.0.0.1:{port}/oauth/token"
    return settings
