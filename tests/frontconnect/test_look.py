"""Issue 19 item 5: one product: the same favicon and colours in the admin and the member pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db

FAVICON = 'rel="icon" href="/static/frontconnect/favicon.svg" type="image/svg+xml"'


def test_the_member_pages_and_the_admin_show_the_favicon(operator_client):
    anonymous = Client()
    assert FAVICON in anonymous.get("/accounts/login/").content.decode()
    assert FAVICON in anonymous.get("/admin/login/").content.decode()
    admin = operator_client.get("/admin/connections/connection/").content.decode()
    assert FAVICON in admin
    assert "/static/frontconnect/admin.css" in admin


def test_the_favicon_is_a_local_svg():
    svg = (Path(settings.BASE_DIR) / "static/frontconnect/favicon.svg").read_text()
    assert svg.startswith("<svg") and "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_the_admin_uses_the_member_pages_colours():
    root = Path(settings.BASE_DIR) / "static/frontconnect"
    pages, admin = (root / "style.css").read_text(), (root / "admin.css").read_text()
    for colour in ("#102a43", "#0b5cad", "#084683"):  # header, accent, accent-dark
        assert colour in pages and colour in admin
