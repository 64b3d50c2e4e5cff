from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from connections import access
from teams.services import team_by_name, team_create, team_members_set


class Command(BaseCommand):
    help = (
        "Create a team with its admins and members, or with --update set an existing team's "
        "members to exactly these (bulk onboarding)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", metavar="NAME", help="The team's name.")
        parser.add_argument(
            "--admin",
            action="append",
            default=[],
            metavar="USERNAME",
            help="An admin of the team (repeatable; at least one).",
        )
        parser.add_argument(
            "--member",
            action="append",
            default=[],
            metavar="USERNAME",
            help="A member of the team (repeatable).",
        )
        parser.add_argument(
            "--update",
            action="store_true",
            help="The team exists: make its members exactly the ones given.",
        )

    def _people(self, usernames: list[str], option: str) -> list[Any]:
        people = []
        for username in usernames:
            user = access.owner_by_username(username)
            if user is None:
                raise CommandError(access.no_such_owner(username, option=option))
            if not user.is_active:
                raise CommandError(f"{option}: {username!r} is deactivated.")
            people.append(user)
        return people

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not options["admin"]:
            raise CommandError("Give at least one --admin: a team always keeps an admin.")
        admins = self._people(options["admin"], "--admin")
        members = self._people(options["member"], "--member")
        team = team_by_name(name)
        try:
            if options["update"]:
                if team is None:
                    raise CommandError(f"No team is named {name!r} (leave out --update).")
                team_members_set(team=team, admins=admins, members=members)
                verb = "Updated"
            else:
                if team is not None:
                    raise CommandError(
                        f"Team {team.name!r} exists already: add --update to replace its members."
                    )
                team = team_create(name=name, admins=admins, members=members)
                verb = "Created"
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        admin_count = team.memberships.filter(role="admin").count()
        total = team.memberships.count()
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} team {team.name!r}: {admin_count} admin(s), "
                f"{total - admin_count} member(s)."
            )
        )
