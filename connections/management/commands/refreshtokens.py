from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from connections.front import FrontError
from connections.models import AuthType, Connection, Status
from connections.services import connection_refresh

USAGE = 2


class Command(BaseCommand):
    help = (
        "Refresh the OAuth 2.0 access tokens that expire within the window. Safe to run on "
        "several hosts at once: on PostgreSQL each row is claimed with SKIP LOCKED."
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
        while (claimed := self.refresh_next(within, done)) is not None:
            connection, error = claimed
            done.add(connection.pk)
            if error is None:
                refreshed += 1
                if options["verbosity"] >= 2:
                    self.stdout.write(f"Refreshed {connection.name}.")
            else:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{connection.name}: {error}"))
        summary = f"Refreshed {refreshed}, failed {failed}."
        if failed:
            raise CommandError(summary)
        if options["verbosity"] >= 1:
            self.stdout.write(self.style.SUCCESS(summary))

    def refresh_next(self, within: int, done: set[int]) -> tuple[Connection, str | None] | None:
        """Claim one due connection in its own transaction and refresh it; None when none left."""
        due = (
            Connection.objects.filter(
                auth_type=AuthType.OAUTH2,
                status__in=[Status.ONLINE, Status.OFFLINE],
                access_token_expires_at__lt=timezone.now() + timedelta(minutes=within),
            )
            .exclude(pk__in=done)
            .order_by("access_token_expires_at", "pk")
        )
        with transaction.atomic():
            if db.features.has_select_for_update_skip_locked:
                due = due.select_for_update(skip_locked=True)
            connection = due.first()
            if connection is None:
                return None
            try:
                connection_refresh(connection=connection, actor=None, source="command")
            except FrontError as exc:
                return connection, str(exc) or exc.__class__.__name__
        return connection, None
