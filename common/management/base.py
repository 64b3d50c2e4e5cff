"""The base of FrontConnect's commands: their help in the language active when they run."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext


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
