from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the first operator (a superuser) with a random password, printed once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="operator", help="Username of the operator.")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            if options["verbosity"] >= 2:
                self.stdout.write("An operator already exists; nothing to do.")
            return
        if User.objects.filter(username=username).exists():
            raise CommandError(f"A user named {username!r} exists but is not an operator.")
        password = secrets.token_urlsafe(16)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the first operator. Sign in at /admin/ as {username!r} with password "
                f"{password} (shown only this once; change it after signing in)."
            )
        )
