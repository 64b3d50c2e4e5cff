from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommonConfig(AppConfig):
    """Infrastructure that connections and oauthclients share without importing each other."""

    name = "common"
    verbose_name = _("FrontConnect infrastructure")

    def ready(self) -> None:
        # django.contrib.admin (first in INSTALLED_APPS) has registered every ModelAdmin by now.
        from django.contrib import admin

        from common.admin import strict_lists_everywhere, user_admin_with_preferences

        strict_lists_everywhere(admin.site)
        user_admin_with_preferences(admin.site)

        from common.metrics import counting_mode_ensure

        counting_mode_ensure()
