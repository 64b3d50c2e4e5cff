from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from common.dates import moment_text
from common.management.base import TranslatedCommand
from connections.history import MAX_RETENTION_DAYS, history_prune


class Command(TranslatedCommand):
    help = gettext_noop(
        "Delete connection history entries and status transitions older than a number of days "
        "(default: FRONTCONNECT_HISTORY_RETENTION_DAYS)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="DAYS",
            default=None,
            help=_(
                "Delete what is older than this many days (1 to %(max)s; default: the "
                "FRONTCONNECT_HISTORY_RETENTION_DAYS setting, 90 unless configured)."
            )
            % {"max": MAX_RETENTION_DAYS},
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Count what would be deleted without deleting anything."),
        )

    def handle(self, *args: Any, older_than: int | None, dry_run: bool, **options: Any) -> None:
        days = settings.FRONTCONNECT_HISTORY_RETENTION_DAYS if older_than is None else older_than
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise CommandError(
                _("--older-than must be a whole number of days, at least 1 and at most %(max)s.")
                % {"max": MAX_RETENTION_DAYS}
            )
        report = history_prune(older_than=timedelta(days=days), dry_run=dry_run)
        # Three counts in one sentence: each is its own plural, placed in the sentence.
        counts = {
            "entries": ngettext(
                "%(count)s history entry", "%(count)s history entries", report.events
            )
            % {"count": report.events},
            "transitions": ngettext(
                "%(count)s status transition", "%(count)s status transitions", report.transitions
            )
            % {"count": report.transitions},
            "days": ngettext("%(count)s day", "%(count)s days", days) % {"count": days},
            "cutoff": moment_text(report.cutoff),
        }
        if dry_run:
            summary = _(
                "Would delete %(entries)s and %(transitions)s older than %(days)s "
                "(before %(cutoff)s)."
            )
        else:
            summary = _(
                "Deleted %(entries)s and %(transitions)s older than %(days)s (before %(cutoff)s)."
            )
        self.stdout.write(self.style.SUCCESS(summary % counts))
