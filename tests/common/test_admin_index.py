"""Issue 19 item 5: the admin index lists our models first, third-party ones under System."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin

from common.admin import FrontConnectAdminSite

pytestmark = pytest.mark.django_db


def captions(html: str) -> list[str]:
    return re.findall(r'<a href="[^"]*" class="section" title="[^"]*">([^<]+)</a>', html)


def test_frontconnect_apps_come_first_and_the_rest_is_grouped_under_system(operator_client):
    html = operator_client.get("/admin/").content.decode()
    names = captions(html)
    assert names[:4] == ["Front connections", "OAuth 2.0 clients", "Service API", "Alerts"]
    assert names[4:] == ["System"]
    system = html[html.index('class="app-system module') :]
    for model in ("Users", "Groups", "Periodic tasks", "Access attempts"):
        assert f">{model}</a>" in system


def test_an_apps_own_page_still_lists_that_app(operator_client):
    html = operator_client.get("/admin/auth/").content.decode()
    assert "Authentication and Authorization" in html and ">Users</a>" in html


def test_the_site_is_frontconnects():
    assert isinstance(admin.site, FrontConnectAdminSite)
    assert admin.site.site_header == "FrontConnect"
