from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from common.text import terminal_safe
from connections import upkeep
from connections.front import FrontError
from connections.management.base import SecretsCommand
from connections.models import Connection
from connections.services import RefreshBusy, connection_refresh

logger = logging.getLogger(__name__)
USAGE = 2


class Command(SecretsCommand):
    help = gettext_noop(
        "Refresh the OAuth 2.0 tokens the worker's refresh policy finds due, with its own window: "
        "recently used connections whose access token expires within the window, and grants in "
        "the last 7 days of their refresh token's life. Safe to run on "
        "several hosts at once: each refresh is claimed with a lease, so no token is refreshed "
        "twice, and Front is called outside any database transaction."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--within",
            type=int,
            default=15,
            metavar="MINUTES",
            help=_(
                "Refresh recently used connections' tokens that expire within this many minutes "
                "(default %(default)s)."
            ),
        )

    def handle(self, *args: Any, within: int, **options: Any) -> None:
        if within < 0:
            raise CommandError(_("--within must be zero or more minutes."), returncode=USAGE)
        refreshed = failed = 0
        window = timedelta(minutes=within)
        for pk in upkeep.connections_due_refresh(within=window):
            connection = self.still_due(pk, window)
            if connection is None:
                continue  # refreshed meanwhile, or another run holds its lease
            name = terminal_safe(connection.name)
            try:
                obtained = connection_refresh(
                    connection=connection, actor=None, source="command", wait=False
                )
            except RefreshBusy:
                continue  # another run holds it: that run refreshes it
            except FrontError as exc:
                failed += 1
                self.stderr.write(
                    self.style.ERROR(
                        _("%(name)s: %(error)s") % {"name": name, "error": terminal_safe(str(exc))}
                    )
                )
                continue
            except Exception as exc:
                # One broken row must not stop the others; the text could quote a secret.
                logger.error("refreshtokens: %s failed: %s", connection.pk, type(exc).__name__)
                failed += 1
                self.stderr.write(
                    self.style.ERROR(
                        _("%(name)s: could not be refreshed (%(error)s).")
                        % {"name": name, "error": type(exc).__name__}
                    )
                )
                continue
            if obtained:
                refreshed += 1
                if options["verbosity"] >= 2:
                    self.stdout.write(_("Refreshed %(name)s.") % {"name": name})
        summary = _("Refreshed %(refreshed)s, failed %(failed)s.") % {
            "refreshed": refreshed,
            "failed": failed,
        }
        if failed:
            raise CommandError(summary)
        if options["verbosity"] >= 1:
            self.stdout.write(self.style.SUCCESS(summary))

    def still_due(self, pk: int, window: timedelta) -> Connection | None:
        """The connection if still due and no other run holds a live refresh lease on it."""
        connection = (
            Connection.objects.filter(pk=pk)
            .filter(Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lt=Now()))
            .select_related("oauth_client")
            .first()
        )
        if connection is None or not upkeep.connection_refresh_due(connection, within=window):
            return None
        return connection
