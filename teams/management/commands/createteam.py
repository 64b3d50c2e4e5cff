from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from common.management.base import TranslatedCommand
from connections import access
from teams.services import team_by_name, team_create, team_members_set


class Command(TranslatedCommand):
    help = gettext_noop(
        "Create a team with its admins and members, or with --update set an existing team's "
        "members to exactly these (bulk onboarding)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", metavar="NAME", help=_("The team's name."))
        parser.add_argument(
            "--admin",
            action="append",
            default=[],
            metavar="USERNAME",
            help=_("An admin of the team (repeatable; at least one)."),
        )
        parser.add_argument(
            "--member",
            action="append",
            default=[],
            metavar="USERNAME",
            help=_("A member of the team (repeatable)."),
        )
        parser.add_argument(
            "--update",
            action="store_true",
            help=_("The team exists: make its members exactly the ones given."),
        )

    def _people(self, usernames: list[str], option: str) -> list[Any]:
        people = []
        for username in usernames:
            user = access.owner_by_username(username)
            if user is None:
                raise CommandError(access.no_such_owner(username, option=option))
            if not user.is_active:
                raise CommandError(
                    _("%(option)s: %(user)s is deactivated.")
                    % {"option": option, "user": repr(username)}
                )
            people.append(user)
        return people

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not options["admin"]:
            raise CommandError(_("Give at least one --admin: a team always keeps an admin."))
        admins = self._people(options["admin"], "--admin")
        members = self._people(options["member"], "--member")
        team = team_by_name(name)
        try:
            if options["update"]:
                if team is None:
                    raise CommandError(
                        _("No team is named %(name)s (leave out --update).") % {"name": repr(name)}
                    )
                team_members_set(team=team, admins=admins, members=members)
                done = _("Updated team %(name)s: %(admins)s, %(members)s.")
            else:
                if team is not None:
                    raise CommandError(
                        _("Team %(name)s exists already: add --update to replace its members.")
                        % {"name": repr(team.name)}
                    )
                team = team_create(name=name, admins=admins, members=members)
                done = _("Created team %(name)s: %(admins)s, %(members)s.")
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        admin_count = team.memberships.filter(role="admin").count()
        member_count = team.memberships.count() - admin_count
        admins_text = ngettext("%(count)d admin", "%(count)d admins", admin_count) % {
            "count": admin_count
        }
        members_text = ngettext("%(count)d member", "%(count)d members", member_count) % {
            "count": member_count
        }
        self.stdout.write(
            self.style.SUCCESS(
                done % {"name": repr(team.name), "admins": admins_text, "members": members_text}
            )
        )
