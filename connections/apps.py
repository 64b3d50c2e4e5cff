from __future__ import annotations

from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Front connections"

    def ready(self) -> None:
        from connections import (
            checks,  # noqa: F401  (registers the system checks)
            history,  # noqa: F401  (records deletions that bypass services)
        )
