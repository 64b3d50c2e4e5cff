from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from common.management.base import TranslatedCommand
from connections import access
from connections.models import Source
from teams.departures import (
    offboard,
    offboard_summary,
    offboard_target_label,
    offboard_targets,
)


class Command(TranslatedCommand):
    help = gettext_noop(
        "Offboard someone: move their connections and API keys to another person or into a "
        "team, end their sessions and deactivate them. Connections keep working (same id, same "
        "tokens); each one's history records it."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username", metavar="USERNAME", help=_("The person leaving."))
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--to-user", metavar="USERNAME", help=_("Hand everything to them."))
        target.add_argument("--to-team", metavar="TEAM", help=_("Move everything into this team."))

    def handle(self, *args: Any, **options: Any) -> None:
        user = access.owner_by_username(options["username"])
        if user is None:
            raise CommandError(access.no_such_owner(options["username"], option="USERNAME"))
        try:
            to_user, to_team = offboard_targets(options["to_user"] or "", options["to_team"] or "")
            done = offboard(
                user=user, to_user=to_user, to_team=to_team, actor=None, source=Source.COMMAND
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        target = offboard_target_label(to_user=to_user, to_team=to_team)
        self.stdout.write(self.style.SUCCESS(offboard_summary(done, user, target)))
