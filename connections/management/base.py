"""The bases of FrontConnect's commands: translated help, and the refusal on a key mismatch."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext

from connections.keys import KeyMismatchError, encryption_key_require


class TranslatedCommand(BaseCommand):
    """A command whose ``help`` is shown in the active language.

    ``help`` is the English text, marked with ``gettext_noop``; it is translated when the parser
    is made, in the language active when the command runs (argparse cannot format lazy texts).
    """

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        if self.help:
            parser.description = gettext(self.help)
        return parser


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
