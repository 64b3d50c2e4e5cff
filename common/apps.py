from __future__ import annotations

from django.apps import AppConfig


class CommonConfig(AppConfig):
    """Infrastructure that connections and oauthclients share without importing each other."""

    name = "common"
    verbose_name = "FrontConnect infrastructure"
