from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.management.base import CommandError
from django.db.models import QuerySet
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext, pgettext
from tqdm import tqdm

from common.text import name_key, terminal_safe
from connections import access
from connections.checking import CheckedConnection, CheckReport, connections_check
from connections.management.base import SecretsCommand
from connections.models import Connection, Source, Status

USAGE = 2


class Command(SecretsCommand):
    help = gettext_noop(
        "Test connections against Front, as the Test connection button does, and print name, "
        "status and reason. Exit status 1 if any connection is not online. Checks run "
        "concurrently within each Front company's rate budget, shared with the worker."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help=_("Only these connections."))
        parser.add_argument("--owner", help=_("Only this user's connections."))
        parser.add_argument(
            "--status",
            choices=Status.values,
            help=_("Only connections currently in this status."),
        )
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            default=8,
            metavar="N",
            help=_("How many checks run at once (default %(default)s)."),
        )
        parser.add_argument(
            "--max-wait",
            type=float,
            default=300.0,
            metavar="SECONDS",
            help=_(
                "How long to wait for a company's rate budget to have room before leaving its "
                "remaining connections unchecked (default %(default)s)."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connections = self.selected(options["names"], options["owner"], options["status"])
        total = connections.count()
        if not total:
            self.stdout.write(_("No connections to test."))
            return
        bar = self.progress_bar(total, options["verbosity"])
        try:
            report = connections_check(
                connections,
                concurrency=options["concurrency"],
                source=Source.COMMAND,
                progress=(lambda _result: bar.update()) if bar is not None else None,
                patience=max(0.0, options["max_wait"]),
            )
        finally:
            if bar is not None:
                bar.close()
        self.write_table(report.results, options["verbosity"])
        self.write_summary(report, options["verbosity"])
        failing = report.not_online + report.not_checked
        tested = len(report.results)
        if failing:
            raise CommandError(
                ngettext(
                    "%(failing)s of %(count)s connections is not online.",
                    "%(failing)s of %(count)s connections are not online.",
                    failing,
                )
                % {"failing": failing, "count": tested}
            )
        self.stdout.write(
            self.style.SUCCESS(
                ngettext(
                    "%(count)s connection is online.",
                    "All %(count)s connections are online.",
                    tested,
                )
                % {"count": tested}
            )
        )

    def progress_bar(self, total: int, verbosity: int) -> Any:
        if verbosity < 1 or not self.stdout.isatty():
            return None
        return tqdm(total=total, desc=_("Testing"),
                    unit=" " + pgettext("progress bar unit", "connections"),
                    file=self.stdout._out, leave=False)  # fmt: skip

    def write_summary(self, report: CheckReport, verbosity: int) -> None:
        if verbosity < 1:
            return
        tested = len(report.results) - report.deferred
        self.stdout.write(
            ngettext(
                "Tested %(count)s connection in %(elapsed)s s: %(summary)s (Front could not be "
                "asked, or the rate budget had no room).",
                "Tested %(count)s connections in %(elapsed)s s: %(summary)s (Front could not be "
                "asked, or the rate budget had no room).",
                tested,
            )
            % {
                "count": tested,
                "elapsed": number_format(report.elapsed, 1),
                "summary": report.summary(),
            }
        )

    def selected(self, names: list[str], username: str | None, status: str | None) -> QuerySet:
        connections = Connection.objects.select_related("owner", "oauth_client").order_by(
            "owner__username", "name", "pk"
        )
        if username is not None:
            owner = access.owner_by_username(username)
            if owner is None:
                raise CommandError(access.no_such_owner(username), returncode=USAGE)
            connections = connections.filter(owner=owner)
        if status is not None:
            connections = connections.filter(status=status)
        if names:
            # Names match as the rules compare them (case, width, look-alikes, invisibles).
            connections = connections.filter(name_key__in={name_key(name) for name in names})
            found = set(connections.values_list("name_key", flat=True))
            missing = [terminal_safe(name) for name in names if name_key(name) not in found]
            if missing:
                raise CommandError(
                    ngettext(
                        "No connection matches: %(names)s.",
                        "No connection matches: %(names)s.",
                        len(missing),
                    )
                    % {"names": ", ".join(missing)},
                    returncode=USAGE,
                )
        return connections

    def write_table(self, results: Sequence[CheckedConnection], verbosity: int) -> None:
        if verbosity < 1:
            return
        table = [(_("NAME"), _("OWNER"), _("STATUS"), _("REASON"))]
        table += [
            (
                terminal_safe(r.name),
                terminal_safe(r.owner),
                r.status_label,
                terminal_safe(str(r.result)),
            )
            for r in results
        ]
        widths = [max(len(row[i]) for row in table) for i in range(3)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[3]
            for row in table
        ]
        self.stdout.write(lines[0].rstrip())
        for line, result in zip(lines[1:], results, strict=True):
            style = self.style.SUCCESS if result.online else self.style.ERROR
            self.stdout.write(style(line.rstrip()))


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number
