from __future__ import annotations

import os
import signal
import subprocess  # noqa: S404  # nosec B404
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from common.management.base import TranslatedCommand

# How long the children get to stop on Ctrl-C before they are killed.
STOP_TIMEOUT = 20.0
WEB = "web server"
WORKER = "worker and scheduler"
DELIVERY_WORKER = "delivery worker"
# Emails and webhook calls get their own processes, so a dead receiver never delays the checks.
DELIVERY_CONCURRENCY = "2"


class Command(TranslatedCommand):
    help = gettext_noop(
        "Serve FrontConnect with its background workers and scheduler beside it (what make run "
        "does): runserver, 'celery -A frontconnect worker --beat -Q celery' and a worker for "
        "the 'deliveries' queue (emails, webhooks). Ctrl-C stops them all."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "addrport", nargs="?", default="127.0.0.1:8000", help=_("Where runserver listens.")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.broker_folders()
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        commands = {
            WEB: [sys.executable, manage, "runserver", options["addrport"]],
            WORKER: [
                sys.executable, "-m", "celery", "-A", "frontconnect", "worker", "--beat",
                "-Q", "celery", "-n", "worker@%h", "--loglevel", "INFO",
            ],
            DELIVERY_WORKER: [
                sys.executable, "-m", "celery", "-A", "frontconnect", "worker",
                "-Q", settings.FRONTCONNECT_DELIVERIES_QUEUE, "-n", "deliveries@%h",
                "--concurrency", DELIVERY_CONCURRENCY, "--loglevel", "INFO",
            ],
        }  # fmt: skip
        children: dict[str, subprocess.Popen[bytes]] = {}
        stopping: list[int] = []

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.append(signum)

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for name, command in commands.items():
                # Each child leads its own process group, so that stopping it stops its own
                # children too (celery's pool) and a Ctrl-C reaches them only through us.
                children[name] = subprocess.Popen(  # noqa: S603  # nosec B603
                    command, cwd=settings.BASE_DIR, start_new_session=True
                )
            self.stdout.write(
                _(
                    "Serving on http://%(addrport)s/ with the worker and scheduler; "
                    "Ctrl-C stops everything."
                )
                % {"addrport": options["addrport"]}
            )
            ended = self.watch(children, stopping)
        finally:
            self.stop_all(children)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if ended is not None:
            raise CommandError(stopped_unexpectedly(ended))

    def broker_folders(self) -> None:
        """The embedded file broker needs its folders before the worker starts."""
        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            if options.get(key):
                Path(options[key]).mkdir(parents=True, exist_ok=True)

    def watch(
        self, children: dict[str, subprocess.Popen[bytes]], stopping: list[int]
    ) -> str | None:
        """Wait for Ctrl-C (None) or for a child to end on its own (its name)."""
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    return name
            time.sleep(0.2)
        return None

    def stop_all(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        for name, child in children.items():
            if child.poll() is None:
                # Celery stops its own pool on SIGTERM (a warm shutdown); runserver's reloader
                # child must be signalled with its parent.
                if name in (WORKER, DELIVERY_WORKER):
                    child.send_signal(signal.SIGTERM)
                else:
                    os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def stopped_unexpectedly(name: str) -> str:
    """The sentence for a child that ended on its own (one per child: genders differ)."""
    if name == WORKER:
        return _("The worker and scheduler stopped unexpectedly; everything was stopped.")
    if name == DELIVERY_WORKER:
        return _("The delivery worker stopped unexpectedly; everything was stopped.")
    return _("The web server stopped unexpectedly; everything was stopped.")
