from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext, pgettext
from tqdm import tqdm

from common.text import terminal_safe
from connections import access
from connections.bulk import DEFAULT_MAX_ROWS, ImportResult, connection_import
from connections.bulk_formats import (
    DEFAULT_MAX_BYTES,
    FORMATS,
    ImportRefused,
    import_check_size,
    import_spool,
)
from connections.checking import connections_check
from connections.management.base import SecretsCommand
from connections.models import Source

USAGE = 2
# How long --test waits for a company's rate budget; what still does not fit stays Not checked
# yet, and the worker checks it.
TEST_PATIENCE = 300.0


class Command(SecretsCommand):
    help = gettext_noop(
        "Import connections from a CSV or JSON file (- for stdin). The whole input is checked "
        "first: one bad row means nothing is written and exit status 1."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", help=_("File to read, or - for standard input."))
        parser.add_argument(
            "--format", choices=FORMATS, help=_("csv or json (default: from the file's extension).")
        )
        parser.add_argument("--owner", help=_("Username that owns rows whose owner cell is blank."))
        parser.add_argument(
            "--update", action="store_true", help=_("Update connections that already exist.")
        )
        parser.add_argument(
            "--dry-run", action="store_true", help=_("Check and count, but write nothing.")
        )
        parser.add_argument(
            "--test", action="store_true", help=_("Test each imported connection afterwards.")
        )
        parser.add_argument(
            "--max-rows",
            type=int,
            default=DEFAULT_MAX_ROWS,
            help=_("Refuse inputs with more rows than this (default %(default)s)."),
        )
        parser.add_argument(
            "--max-bytes",
            type=int,
            default=DEFAULT_MAX_BYTES,
            help=_("Refuse inputs larger than this many bytes (default %(default)s)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        fmt = self.input_format(options["path"], options["format"])
        if options["max_rows"] < 1 or options["max_bytes"] < 1:
            raise CommandError(_("--max-rows and --max-bytes must be positive."), returncode=USAGE)
        owner = self.default_owner(options["owner"])
        try:
            with self.open_input(options["path"], options["max_bytes"]) as stream:
                result = connection_import(
                    stream=stream,
                    fmt=fmt,
                    default_owner=owner,
                    update=options["update"],
                    dry_run=options["dry_run"],
                    max_rows=options["max_rows"],
                    max_bytes=options["max_bytes"],
                    source=Source.COMMAND,
                    progress=self.progress_factory(options["verbosity"]),
                    # With --test this command checks the new credentials itself, right after.
                    checks_in_request=options["test"],
                )
        except ImportRefused as refused:
            for error in refused.errors:
                self.stderr.write(self.style.ERROR(terminal_safe(str(error))))
            count = len(refused.errors)
            raise CommandError(
                ngettext(
                    "The input was refused (%(count)s problem listed above); nothing was written.",
                    "The input was refused (%(count)s problems listed above); nothing was written.",
                    count,
                )
                % {"count": count}
            ) from None
        self.report(result, options["verbosity"])
        if options["test"] and not result.dry_run:
            self.test(result.connection_ids, options["verbosity"])

    def input_format(self, path: str, fmt: str | None) -> str:
        if fmt:
            return fmt
        suffix = Path(path).suffix.lower().lstrip(".")
        if path != "-" and suffix in FORMATS:
            return suffix
        raise CommandError(
            _("Cannot tell the format from the file name; pass --format csv or --format json."),
            returncode=USAGE,
        )

    def default_owner(self, username: str | None) -> Any:
        if username is None:
            return None
        owner = access.owner_by_username(username)
        if owner is None:
            raise CommandError(access.no_such_owner(username), returncode=USAGE)
        return owner

    def open_input(self, path: str, max_bytes: int) -> IO[bytes]:
        if path == "-":
            return import_spool(stream=sys.stdin.buffer, max_bytes=max_bytes)
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed by the caller's with block
        except OSError as exc:
            raise CommandError(
                _("Cannot read %(path)s: %(reason)s.") % {"path": path, "reason": exc.strerror},
                returncode=USAGE,
            ) from None
        try:
            import_check_size(stream=stream, max_bytes=max_bytes)
        except ImportRefused:
            stream.close()
            raise
        return stream

    def progress_factory(self, verbosity: int) -> Any:
        if verbosity < 1 or not self.stdout.isatty():
            return None
        return lambda description, total: tqdm(
            desc=description,
            total=total,
            unit=" " + pgettext("progress bar unit", "rows"),
            file=self.stdout._out,
            leave=False,
        )

    def report(self, result: ImportResult, verbosity: int) -> None:
        if verbosity < 1:
            return
        counts = {
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "elapsed": number_format(result.elapsed, 2),
        }
        if result.dry_run:
            summary = _(
                "Dry run: would create %(created)s, would update %(updated)s, "
                "unchanged %(unchanged)s, errors 0, in %(elapsed)s s; nothing was written."
            )
        else:
            summary = _(
                "Created %(created)s, updated %(updated)s, unchanged %(unchanged)s, "
                "in %(elapsed)s s."
            )
        self.stdout.write(self.style.SUCCESS(summary % counts))

    def test(self, connection_ids: list[int], verbosity: int) -> None:
        # The same concurrent checker as testconnections, within each company's rate budget.
        report = connections_check(
            connection_ids,
            concurrency=int(settings.FRONTCONNECT_CHECK_CONCURRENCY),
            source=Source.COMMAND,
            patience=TEST_PATIENCE,
        )
        if verbosity >= 2:
            for result in report.results:
                self.stdout.write(f"{terminal_safe(result.name)}: {result.status_label}")
        if verbosity >= 1:
            self.stdout.write(
                _("Tested %(count)s: %(summary)s.")
                % {"count": len(report.results), "summary": report.summary()}
            )
