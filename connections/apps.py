from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = _("Front connections")

    def ready(self) -> None:
        from connections import (
            checks,  # noqa: F401  (registers the system checks)
            front,
            history,  # noqa: F401  (records deletions that bypass services)
            ratelimit,
            wording,  # noqa: F401  (registers the sentences history entries store as codes)
        )
        from connections.schedules import schedules_install

        # Every call to Front that names a budget key draws on the shared per-company budget.
        front.budget_install(ratelimit.DatabaseBudget())
        post_migrate.connect(schedules_install, sender=self)
