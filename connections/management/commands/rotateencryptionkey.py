from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandError
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from common.management.base import TranslatedCommand
from connections.keys import KeyMismatchError, secrets_rotate


class Command(TranslatedCommand):
    help = gettext_noop(
        "Re-encrypt every stored secret under FRONTCONNECT_ENCRYPTION_KEY. Put the old key in "
        "FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS first; safe to stop and run again."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Count what would be re-encrypted without writing anything."),
        )

    def handle(self, *args: Any, dry_run: bool, verbosity: int, **options: Any) -> None:
        started = time.monotonic()

        def progress(label: str) -> None:
            if verbosity >= 2:
                self.stdout.write(_("  checked %(table)s") % {"table": label})

        try:
            report = secrets_rotate(dry_run=dry_run, progress=progress)
        except KeyMismatchError as exc:
            raise CommandError(str(exc)) from None
        for label, pk, name in report.undecryptable:
            self.stderr.write(
                _(
                    "%(table)s id %(id)s: %(field)s cannot be decrypted with any configured key; "
                    "enter it again on its page."
                )
                % {"table": label, "id": pk, "field": name}
            )
        for label, pk, name in report.unverified:
            self.stderr.write(
                _("%(table)s id %(id)s: %(field)s is still not readable with the current key.")
                % {"table": label, "id": pk, "field": name}
            )
        if dry_run:
            summary = _(
                "would re-encrypt %(rotated)s, already current %(current)s, empty %(empty)s, "
                "undecryptable %(undecryptable)s in %(elapsed)ss"
            )
        else:
            summary = _(
                "re-encrypted %(rotated)s, already current %(current)s, empty %(empty)s, "
                "undecryptable %(undecryptable)s in %(elapsed)ss"
            )
        self.stdout.write(
            summary
            % {
                "rotated": report.rotated,
                "current": report.current,
                "empty": report.empty,
                "undecryptable": len(report.undecryptable),
                "elapsed": number_format(time.monotonic() - started, 1),
            }
        )
        if report.undecryptable or report.unverified:
            raise CommandError(
                _("Some secrets cannot be read with any configured key (listed above by id).")
            )
