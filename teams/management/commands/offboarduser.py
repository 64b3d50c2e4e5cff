from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from connections import access
from connections.models import Source
from teams.departures import offboard, offboard_targets


class Command(BaseCommand):
    help = (
        "Offboard someone: move their connections and API keys to another person or into a "
        "team, end their sessions and deactivate them. Connections keep working (same id, same "
        "tokens); each one's history records it."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username", metavar="USERNAME", help="The person leaving.")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--to-user", metavar="USERNAME", help="Hand everything to them.")
        target.add_argument("--to-team", metavar="TEAM", help="Move everything into this team.")

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
        target = f"team {to_team.name}" if to_team is not None else str(options["to_user"])
        self.stdout.write(self.style.SUCCESS(done.sentence(user, target)))
