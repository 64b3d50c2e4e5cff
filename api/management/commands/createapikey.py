from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from api.keys import apikey_create
from api.models import KeyScope, Permission
from common.dates import moment_text
from common.management.base import TranslatedCommand
from connections import access

MAX_DAYS = 3650


class Command(TranslatedCommand):
    help = gettext_noop(
        "Create a service API key and print it once, alone on the last line. It reaches the "
        "owner's connections, every connection with --all-connections, or a team's connections "
        "with --team (the key then belongs to the team and works while --owner stays in it)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", metavar="NAME", help=_("What the key is for, e.g. 'CRM sync'."))
        parser.add_argument(
            "--owner",
            required=True,
            metavar="USERNAME",
            help=_(
                "The user accountable for the key; the key reaches this user's connections. "
                "With --team: the team member who issues the key."
            ),
        )
        reach = parser.add_mutually_exclusive_group()
        reach.add_argument(
            "--all-connections",
            action="store_true",
            help=_("Reach every connection, not only the owner's."),
        )
        reach.add_argument(
            "--team",
            metavar="TEAM",
            help=_("A team's key: it reaches the team's connections and belongs to the team."),
        )
        parser.add_argument(
            "--permission",
            action="extend",
            nargs="+",
            default=[],
            metavar="PERMISSION",
            help=_("One of %(choices)s (repeatable; default: read).")
            % {"choices": ", ".join(Permission.values)},
        )
        parser.add_argument(
            "--expires",
            metavar="DAYS",
            help=_("Expire after this many days (1 to %(max)s); default: never.")
            % {"max": MAX_DAYS},
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError(_("NAME must be 1 to 100 characters."))
        owner = access.owner_by_username(options["owner"])
        if owner is None:
            raise CommandError(access.no_such_owner(options["owner"]))
        permissions = options["permission"] or [Permission.READ]
        unknown = [p for p in permissions if p not in Permission.values]
        if unknown:
            raise CommandError(
                _("--permission: unknown permission %(permission)r; choose from %(choices)s.")
                % {"permission": unknown[0], "choices": ", ".join(Permission.values)}
            )
        expires_at = None
        if options["expires"] is not None:
            raw = str(options["expires"])
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
                raise CommandError(
                    _("--expires: give a whole number of days from 1 to %(max)s, not %(raw)r.")
                    % {"max": MAX_DAYS, "raw": raw}
                )
            expires_at = timezone.now() + timedelta(days=int(raw))
        scope = KeyScope.ALL if options["all_connections"] else KeyScope.USERS
        team = None
        if options["team"] is not None:
            team = access.team_by_name(options["team"])
            if team is None:
                raise CommandError(
                    _("--team: no team is named %(team)r.") % {"team": options["team"]}
                )
            if not access.user_administers_team(owner, team, as_operator=False):
                raise CommandError(
                    _(
                        "--owner: %(owner)s is not an admin of team %(team)r; a team's key is "
                        "issued by one of its admins and works while they stay in the team."
                    )
                    % {"owner": owner.username, "team": team.name}
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
        if scope == KeyScope.ALL:
            reach = _("every connection")
        elif team is not None:
            reach = _("team %(team)s's connections") % {"team": team.name}
        else:
            reach = _("%(owner)s's connections") % {"owner": owner.username}
        if expires_at:
            until = _("until %(when)s") % {"when": moment_text(expires_at)}
        else:
            until = _("with no expiry")
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Created API key %(name)r (%(prefix)s) reaching %(reach)s, allowed: "
                    "%(permissions)s, %(until)s."
                )
                % {
                    "name": key.name,
                    "prefix": key.prefix,
                    "reach": reach,
                    "permissions": ", ".join(key.permissions),
                    "until": until,
                }
            )
        )
        self.stdout.write(_("Store the key now: it is shown only this once."))
        self.stdout.write(made.plaintext, style_func=lambda text: text)
