from __future__ import annotations

from django.apps import AppConfig


class OAuthClientsConfig(AppConfig):
    name = "oauthclients"
    verbose_name = "OAuth 2.0 clients"
