from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from connections.history import MAX_RETENTION_DAYS, history_prune


class Command(BaseCommand):
    help = (
        "Delete connection history entries and status transitions older than a number of days "
        "(default: FRONTCONNECT_HISTORY_RETENTION_DAYS)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="DAYS",
            default=None,
            help=f"Delete what is older than this many days (1 to {MAX_RETENTION_DAYS}; default: "
            "the FRONTCONNECT_HISTORY_RETENTION_DAYS setting, 90 unless configured).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be deleted without deleting anything.",
        )

    def handle(self, *args: Any, older_than: int | None, dry_run: bool, **options: Any) -> None:
        days = settings.FRONTCONNECT_HISTORY_RETENTION_DAYS if older_than is None else older_than
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise CommandError(
                "--older-than must be a whole number of days, at least 1 and at most "
                f"{MAX_RETENTION_DAYS}."
            )
        report = history_prune(older_than=timedelta(days=days), dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {report.events} history entr{'y' if report.events == 1 else 'ies'} and "
                f"{report.transitions} status transition{'' if report.transitions == 1 else 's'} "
                f"older than {days} day{'' if days == 1 else 's'} "
                f"(before {report.cutoff:%Y-%m-%d %H:%M} UTC)."
            )
        )
