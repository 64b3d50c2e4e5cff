from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from common.management.base import TranslatedCommand
from common.text import terminal_safe
from connections import access
from connections.bulk_export import connection_export
from connections.bulk_formats import FORMATS

USAGE = 2


class Command(TranslatedCommand):
    help = gettext_noop(
        "Export connections in the import format (CSV or JSON) with every secret left blank; "
        "importing the output again with --update changes nothing."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--format",
            choices=FORMATS,
            help=_("csv or json (default: from -o's extension, else csv)."),
        )
        parser.add_argument("--owner", help=_("Export only this user's connections."))
        parser.add_argument("-o", "--output", help=_("File to write (default: standard output)."))

    def handle(self, *args: Any, **options: Any) -> None:
        output = options["output"]
        fmt = options["format"] or self.format_from(output)
        owner = None
        if options["owner"] is not None:
            owner = access.owner_by_username(options["owner"])
            if owner is None:
                raise CommandError(access.no_such_owner(options["owner"]), returncode=USAGE)
        if output is None:
            # django-stubs omits OutputWrapper's private _out (the wrapped text stream) and types
            # it through __getattr__ as a callable.
            stream: IO[str] = self.stdout._out  # type: ignore[assignment]
            # On a terminal, a name holding escape codes must not rewrite the screen.
            cell = terminal_safe if self.stdout.isatty() else None
            count = connection_export(out=stream, fmt=fmt, owner=owner, cell=cell)
            if options["verbosity"] >= 2:
                self.stderr.write(
                    ngettext(
                        "Exported %(count)s connection.", "Exported %(count)s connections.", count
                    )
                    % {"count": count}
                )
            return
        try:
            with open(output, "w", encoding="utf-8", newline="") as out:
                count = connection_export(out=out, fmt=fmt, owner=owner)
        except OSError as exc:
            raise CommandError(
                _("Cannot write %(path)s: %(reason)s.") % {"path": output, "reason": exc.strerror},
                returncode=USAGE,
            ) from None
        if options["verbosity"] >= 1:
            summary = ngettext(
                "Exported %(count)s connection to %(path)s.",
                "Exported %(count)s connections to %(path)s.",
                count,
            ) % {"count": count, "path": output}
            self.stdout.write(self.style.SUCCESS(summary))

    def format_from(self, output: str | None) -> str:
        suffix = Path(output).suffix.lower().lstrip(".") if output else ""
        return suffix if suffix in FORMATS else "csv"
