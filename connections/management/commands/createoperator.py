from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from common.management.base import TranslatedCommand


class Command(TranslatedCommand):
    help = gettext_noop(
        "Create the first operator (a superuser) with a random password, printed once."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="operator", help=_("Username of the operator."))

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            if options["verbosity"] >= 2:
                self.stdout.write(_("An operator already exists; nothing to do."))
            return
        if User.objects.filter(username=username).exists():
            raise CommandError(
                _("A user named %(username)s exists but is not an operator.")
                % {"username": repr(username)}
            )
        password = secrets.token_urlsafe(16)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Created the first operator. Sign in at /admin/ as %(username)s with password "
                    "%(password)s (shown only this once; change it after signing in)."
                )
                % {"username": repr(username), "password": password}
            )
        )
