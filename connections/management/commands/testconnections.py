from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q, QuerySet

from common.text import terminal_safe
from connections.models import Connection, Source, Status
from connections.services import connection_check

logger = logging.getLogger(__name__)
USAGE = 2


class Command(BaseCommand):
    help = (
        "Test connections against Front, as the Test connection button does, and print name, "
        "status and reason. Exit status 1 if any connection is not online."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="Only these connections.")
        parser.add_argument("--owner", help="Only this user's connections.")
        parser.add_argument(
            "--status",
            choices=Status.values,
            help="Only connections currently in this status.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connections = self.selected(options["names"], options["owner"], options["status"])
        rows = []
        for connection in connections.iterator(chunk_size=200):
            online, reason = self.check_one(connection)
            owner = connection.owner.get_username()
            rows.append((terminal_safe(connection.name), terminal_safe(owner), online,
                         connection.get_status_display(), terminal_safe(reason)))  # fmt: skip
        if not rows:
            self.stdout.write("No connections to test.")
            return
        self.write_table(rows, options["verbosity"])
        failing = sum(1 for row in rows if not row[2])
        if failing:
            raise CommandError(f"{failing} of {len(rows)} connection(s) are not online.")
        self.stdout.write(self.style.SUCCESS(f"All {len(rows)} connection(s) are online."))

    def check_one(self, connection: Connection) -> tuple[bool, str]:
        """Check one connection; whatever goes wrong with it is reported, and the rest go on."""
        try:
            outcome = connection_check(connection=connection, actor=None, source=Source.COMMAND)
        except Exception as exc:
            # The exception's text could quote a secret: only its class name is shown.
            logger.error(
                "testconnections: connection %s failed: %s", connection.pk, type(exc).__name__
            )
            return False, f"Could not be tested ({type(exc).__name__}); see the log."
        return outcome.online, outcome.message

    def selected(self, names: list[str], username: str | None, status: str | None) -> QuerySet:
        connections = Connection.objects.select_related("owner", "oauth_client").order_by(
            "owner__username", "name", "pk"
        )
        if username is not None:
            owner = get_user_model().objects.filter(username=username).first()
            if owner is None:
                raise CommandError(f"--owner: no user is named {username!r}.", returncode=USAGE)
            connections = connections.filter(owner=owner)
        if status is not None:
            connections = connections.filter(status=status)
        if names:
            query = Q()
            for name in names:
                query |= Q(name__iexact=name)
            connections = connections.filter(query)
            found = {name.lower() for name in connections.values_list("name", flat=True)}
            missing = [name for name in names if name.lower() not in found]
            if missing:
                raise CommandError(
                    "No connection matches: " + ", ".join(missing) + ".", returncode=USAGE
                )
        return connections

    def write_table(self, rows: Sequence[tuple[str, str, bool, str, str]], verbosity: int) -> None:
        if verbosity < 1:
            return
        table: list[tuple[str, str, str, str]] = [("NAME", "OWNER", "STATUS", "REASON")]
        table += [(name, owner, label, reason) for name, owner, _, label, reason in rows]
        widths = [max(len(row[i]) for row in table) for i in range(3)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[3]
            for row in table
        ]
        self.stdout.write(lines[0].rstrip())
        for line, row in zip(lines[1:], rows, strict=True):
            style = self.style.SUCCESS if row[2] else self.style.ERROR
            self.stdout.write(style(line.rstrip()))
