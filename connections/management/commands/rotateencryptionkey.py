from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connections.keys import KeyMismatchError, secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under FRONTCONNECT_ENCRYPTION_KEY. Put the old key in "
        "FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS first; safe to stop and run again."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be re-encrypted without writing anything.",
        )

    def handle(self, *args: Any, dry_run: bool, verbosity: int, **options: Any) -> None:
        started = time.monotonic()

        def progress(label: str) -> None:
            if verbosity >= 2:
                self.stdout.write(f"  checked {label}")

        try:
            report = secrets_rotate(dry_run=dry_run, progress=progress)
        except KeyMismatchError as exc:
            raise CommandError(str(exc)) from None
        for label, pk, name in report.undecryptable:
            self.stderr.write(
                f"{label} id {pk}: {name} cannot be decrypted with any configured key; "
                "enter it again on its page."
            )
        for label, pk, name in report.unverified:
            self.stderr.write(
                f"{label} id {pk}: {name} is still not readable with the current key."
            )
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        self.stdout.write(
            f"{verb} {report.rotated}, already current {report.current}, "
            f"empty {report.empty}, undecryptable {len(report.undecryptable)} "
            f"in {time.monotonic() - started:.1f}s"
        )
        if report.undecryptable or report.unverified:
            raise CommandError(
                "Some secrets cannot be read with any configured key (listed above by id)."
            )
