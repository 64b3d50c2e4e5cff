"""The base of the commands that read secrets: the refusal on a key mismatch."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from common.management.base import TranslatedCommand
from connections.keys import KeyMismatchError, encryption_key_require


class SecretsCommand(TranslatedCommand):
    """A command that decrypts stored secrets (and may act on them against Front).

    With an encryption key that cannot read this database it stops before doing anything, with
    the one sentence naming FRONTCONNECT_ENCRYPTION_KEY and exit status 1: an unreadable token
    must never be reported to Front as a bad credential.
    """

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            encryption_key_require()
        except KeyMismatchError as exc:
            raise CommandError(str(exc)) from None
        return super().execute(*args, **options)
