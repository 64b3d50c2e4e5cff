from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """``make demo``: FrontConnect beside a local stand-in for Front, with a banner on every page.

    Installed everywhere (the stand-in also serves the tests), but the demo itself is on only
    under ``frontconnect.demo_settings``; ``demo.checks`` refuses it outside a loopback DEBUG run.
    """

    name = "demo"
    verbose_name = _("Demo")

    def ready(self) -> None:
        from demo import checks  # noqa: F401  (registers the system check)
