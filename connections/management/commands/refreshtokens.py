from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError
from django.db.models import Q
from django.utils import timezone

from common.text import terminal_safe
from connections.front import FrontError
from connections.management.base import SecretsCommand
from connections.models import AuthType, Connection, Status
from connections.services import RefreshBusy, connection_refresh

logger = logging.getLogger(__name__)
USAGE = 2


class Command(SecretsCommand):
    help = (
        "Refresh the OAuth 2.0 access tokens that expire within the window. Safe to run on "
        "several hosts at once: each refresh is claimed with a lease, so no token is refreshed "
        "twice, and Front is called outside any database transaction."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--within",
            type=int,
            default=15,
            metavar="MINUTES",
            help="Refresh tokens that expire within this many minutes (default 15).",
        )

    def handle(self, *args: Any, within: int, **options: Any) -> None:
        if within < 0:
            raise CommandError("--within must be zero or more minutes.", returncode=USAGE)
        refreshed = failed = 0
        done: set[int] = set()
        while (connection := self.next_due(within, done)) is not None:
            done.add(connection.pk)
            name = terminal_safe(connection.name)
            try:
                obtained = connection_refresh(
                    connection=connection, actor=None, source="command", wait=False
                )
            except RefreshBusy:
                continue  # another run holds it: that run refreshes it
            except FrontError as exc:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{name}: {terminal_safe(str(exc))}"))
                continue
            except Exception as exc:
                # One broken row must not stop the others; the text could quote a secret.
                logger.error("refreshtokens: %s failed: %s", connection.pk, type(exc).__name__)
                failed += 1
                self.stderr.write(
                    self.style.ERROR(f"{name}: could not be refreshed ({type(exc).__name__}).")
                )
                continue
            if obtained:
                refreshed += 1
                if options["verbosity"] >= 2:
                    self.stdout.write(f"Refreshed {name}.")
        summary = f"Refreshed {refreshed}, failed {failed}."
        if failed:
            raise CommandError(summary)
        if options["verbosity"] >= 1:
            self.stdout.write(self.style.SUCCESS(summary))

    def next_due(self, within: int, done: set[int]) -> Connection | None:
        """The next due connection that no other run holds a live refresh lease on."""
        now = timezone.now()
        return (
            Connection.objects.filter(
                auth_type=AuthType.OAUTH2,
                status__in=[Status.ONLINE, Status.OFFLINE],
                access_token_expires_at__lt=now + timedelta(minutes=within),
            )
            .filter(Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lt=now))
            .exclude(pk__in=done)
            .select_related("oauth_client")
            .order_by("access_token_expires_at", "pk")
            .first()
        )
