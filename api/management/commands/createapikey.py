from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from api.keys import apikey_create
from api.models import KeyScope, Permission
from connections import access

MAX_DAYS = 3650


class Command(BaseCommand):
    help = (
        "Create a service API key and print it once, alone on the last line. It reaches the "
        "owner's connections, every connection with --all-connections, or a team's connections "
        "with --team (the key then belongs to the team and works while --owner stays in it)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", metavar="NAME", help="What the key is for, e.g. 'CRM sync'.")
        parser.add_argument(
            "--owner",
            required=True,
            metavar="USERNAME",
            help="The user accountable for the key; the key reaches this user's connections. "
            "With --team: the team member who issues the key.",
        )
        reach = parser.add_mutually_exclusive_group()
        reach.add_argument(
            "--all-connections",
            action="store_true",
            help="Reach every connection, not only the owner's.",
        )
        reach.add_argument(
            "--team",
            metavar="TEAM",
            help="A team's key: it reaches the team's connections and belongs to the team.",
        )
        parser.add_argument(
            "--permission",
            action="extend",
            nargs="+",
            default=[],
            metavar="PERMISSION",
            help="read, token, proxy or write (repeatable; default: read).",
        )
        parser.add_argument(
            "--expires",
            metavar="DAYS",
            help=f"Expire after this many days (1 to {MAX_DAYS}); default: never.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1 to 100 characters.")
        owner = access.owner_by_username(options["owner"])
        if owner is None:
            raise CommandError(access.no_such_owner(options["owner"]))
        permissions = options["permission"] or [Permission.READ]
        unknown = [p for p in permissions if p not in Permission.values]
        if unknown:
            raise CommandError(
                f"--permission: unknown permission {unknown[0]!r}; choose from "
                f"{', '.join(Permission.values)}."
            )
        expires_at = None
        if options["expires"] is not None:
            raw = str(options["expires"])
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
                raise CommandError(
                    f"--expires: give a whole number of days from 1 to {MAX_DAYS}, not {raw!r}."
                )
            expires_at = timezone.now() + timedelta(days=int(raw))
        scope = KeyScope.ALL if options["all_connections"] else KeyScope.USERS
        team = None
        if options["team"] is not None:
            team = access.team_by_name(options["team"])
            if team is None:
                raise CommandError(f"--team: no team is named {options['team']!r}.")
            if not access.user_administers_team(owner, team, as_operator=False):
                raise CommandError(
                    f"--owner: {owner.username} is not an admin of team {team.name!r}; a team's "
                    "key is issued by one of its admins and works while they stay in the team."
                )
            scope = KeyScope.TEAM
        try:
            made = apikey_create(
                name=name,
                owner=None if team is not None else owner,
                permissions=permissions,
                scope=scope,
                expires_at=expires_at,
                team=team,
                created_by=owner if team is not None else None,
            )
        except ValidationError as exc:
            # A key never reaches beyond its owner's rights (all connections: an operator).
            raise CommandError(" ".join(exc.messages)) from None
        key = made.key
        reach = (
            "every connection"
            if scope == KeyScope.ALL
            else f"team {team.name}'s connections"
            if team is not None
            else f"{owner.username}'s connections"
        )
        until = f"until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "with no expiry"
        self.stdout.write(
            self.style.SUCCESS(
                f"Created API key {key.name!r} ({key.prefix}) reaching {reach}, "
                f"allowed: {', '.join(key.permissions)}, {until}."
            )
        )
        self.stdout.write("Store the key now: it is shown only this once.")
        self.stdout.write(made.plaintext, style_func=lambda text: text)
