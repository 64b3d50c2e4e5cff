from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from common.management.base import TranslatedCommand
from demo.checks import demo_refusals
from demo.services import REFUSED_TOKEN, TOKENS, DemoReady, demo_prepare, demo_standin
from demo.standin import standin_serve

# The worker's start-up banner pushes the welcome out of sight: it is printed again after it.
WELCOME_AGAIN_AFTER = 10.0


def demo_setting(name: str) -> Any:
    """A setting that only frontconnect.demo_settings defines."""
    return getattr(settings, name)


class Command(TranslatedCommand):
    help = gettext_noop(
        "Serve the demo (what make demo does): FrontConnect with its worker and scheduler, "
        "and a stand-in for Front, all on 127.0.0.1, in a database of its own under .demo/. "
        "Only under frontconnect.demo_settings. Ctrl-C stops everything."
    )
    requires_system_checks: list[str] = []  # checked below, after saying what demo mode needs

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help=_("Prepare the demo (database, client, operator, key) and stop without serving."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not getattr(settings, "FRONTCONNECT_DEMO", False):
            raise CommandError(
                _(
                    "The demo runs only under its own settings, which never touch your database: "
                    "run `make demo` (manage.py rundemo --settings=frontconnect.demo_settings)."
                )
            )
        refusals = demo_refusals()
        if refusals:
            raise CommandError(
                _("Demo mode refused: %(refusals)s.") % {"refusals": "; ".join(refusals)}
            )
        demo_dir = Path(demo_setting("DEMO_DIR"))
        demo_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(demo_dir, 0o700)
        call_command("migrate", interactive=False, verbosity=0)
        front = demo_standin()
        port = demo_setting("FRONTCONNECT_DEMO_FRONT_PORT")
        try:
            server = standin_serve(front, port=port)
        except OSError as exc:
            raise CommandError(
                _(
                    "The Front stand-in could not listen on 127.0.0.1:%(port)s (%(error)s); "
                    "stop what uses it or choose other ports with FRONTCONNECT_DEMO_PORT."
                )
                % {"port": port, "error": exc.strerror}
            ) from None
        try:
            if front.url != settings.FRONT_API_URL:
                raise CommandError(
                    _("FRONT_API_URL must be the stand-in's %(url)s.") % {"url": front.url}
                )
            lines = self.welcome(demo_prepare())
            self.say(lines)
            if not options["no_serve"]:
                again = threading.Timer(WELCOME_AGAIN_AFTER, self.say, [lines])
                again.daemon = True
                again.start()
                try:
                    call_command("runall", f"127.0.0.1:{demo_setting('FRONTCONNECT_DEMO_PORT')}")
                finally:
                    again.cancel()
        finally:
            server.shutdown()
            server.server_close()

    def say(self, lines: list[str]) -> None:
        self.stdout.write("\n".join(["", "=" * 72, *lines, "=" * 72, ""]))

    def welcome(self, ready: DemoReady) -> list[str]:
        """Everything a newcomer needs, once: where to go, how to sign in, what to type."""
        base = settings.FRONTCONNECT_BASE_URL
        tokens = ", ".join(TOKENS)
        lines = [
            self.style.WARNING(_("Demo: not connected to the real Front.")),
            _("Front stand-in: %(url)s (OAuth 2.0 client %(client)s is ready).")
            % {"url": settings.FRONT_API_URL, "client": repr(ready.client.name)},
            _(
                "Open %(url)s for the steps, then sign in as %(user)s with password "
                "%(password)s (new at each start)."
            )
            % {
                "url": f"{base}/demo/",
                "user": repr(ready.operator.username),
                "password": ready.password,
            },
            _("API tokens the stand-in accepts: %(tokens)s; it refuses %(refused)s and any other.")
            % {"tokens": tokens, "refused": REFUSED_TOKEN},
            _("API key %(name)s (read, proxy; new at each start):")
            % {"name": repr(ready.key.key.name)},
            f"export FRONTCONNECT_DEMO_KEY={ready.key.plaintext}",
            f'curl -H "Authorization: Bearer $FRONTCONNECT_DEMO_KEY" {base}/api/v1/connections/',
        ]
        return lines
