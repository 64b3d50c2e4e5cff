from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = _("Alerts")

    def ready(self) -> None:
        from alerts import wording  # noqa: F401  (registers the sentences stored as codes)
        from alerts.tasks import lifecycle_dispatch, transition_dispatch
        from connections.lifecycle import lifecycle_subscribe
        from connections.status import transition_subscribe

        transition_subscribe(transition_dispatch)
        lifecycle_subscribe(lifecycle_dispatch)
