"""django.contrib.admin's app config with FrontConnect's admin site.

A module of its own: INSTALLED_APPS imports it before any model exists, and ``common.apps`` must
keep a single AppConfig for the ``common`` app.
"""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class FrontConnectAdminConfig(AdminConfig):
    """The admin, with ``common.admin.FrontConnectAdminSite`` as ``admin.site``."""

    default_site = "common.admin.FrontConnectAdminSite"
