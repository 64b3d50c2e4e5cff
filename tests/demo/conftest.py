from __future__ import annotations

import pytest

from api import keys


@pytest.fixture(autouse=True)
def usage_written_on_flush_only(monkeypatch):
    """The demo's proxy calls count usage as in production; no timer outlives a test here."""
    monkeypatch.setattr(keys.proxy_usage, "interval", None)
    yield
    keys.proxy_usage._pending.clear()
