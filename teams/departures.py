"""When someone leaves: nothing they own is deleted, everything is handed over.

- ``deletion_refusal``: deleting a user who still owns connections or API keys is refused with
  a sentence saying what must be moved first (the admin's delete page and ``user_delete_check``
  say it; ``Connection.owner`` and ``ApiKey.owner`` are PROTECT for every other path).
  Deactivating is always possible.
- ``offboard``: moves the person's own connections to another person or into a team, their API
  keys likewise (a key handed to a team becomes the team's key, working for the team's first
  admin), hands the team connections they created and the team keys they issued to the
  recipient, ends their sessions, deactivates them and records it: one history entry per
  connection, and an entry in the user's admin history. Connections keep their id, tokens and
  status throughout; team connections stay in their teams.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from api.models import ApiKey, KeyScope
from common.text import name_key
from connections.models import Connection
from connections.moves import connection_move
from connections.wording import Said, said
from teams.models import Membership, Role, Team

ONE_TARGET = _("Give exactly one of: a person or a team to hand everything to.")
SAME_PERSON = _("Hand the connections to someone else than the person leaving.")
INACTIVE_TARGET = _("%(user)s is deactivated: hand the connections to an active person.")
NO_ADMIN = _("Team %(team)s has no active admin to be accountable for the keys handed to it.")
NAME_CLASH_PERSON = _(
    "%(user)s already has a connection named %(names)s: rename one of them first."
)
NAME_CLASH_TEAM = _(
    "Team %(team)s already has a connection named %(names)s: rename one of them first."
)
NAMES_SHOWN = 5


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _listed(names: list[str]) -> str:
    shown = ", ".join(f"\u201c{n}\u201d" for n in names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def deletion_refusal(user: User) -> str | None:
    """Why ``user`` may not be deleted yet (None: nothing of theirs would be lost)."""
    owned = list(
        Connection.objects.filter(owner=user).order_by("name", "pk").values_list("name", flat=True)
    )
    keys = list(ApiKey.objects.filter(owner=user).order_by("name").values_list("name", flat=True))
    if not owned and not keys:
        return None
    parts = []
    if owned:
        parts.append(
            ngettext(
                "%(count)d connection (%(names)s)", "%(count)d connections (%(names)s)", len(owned)
            )
            % {"count": len(owned), "names": names_listed(owned)}
        )
    if keys:
        parts.append(
            ngettext("%(count)d API key (%(names)s)", "%(count)d API keys (%(names)s)", len(keys))
            % {"count": len(keys), "names": names_listed(keys)}
        )
    owns = (
        gettext("%(first)s and %(second)s") % {"first": parts[0], "second": parts[1]}
        if len(parts) == 2
        else parts[0]
    )
    return gettext(
        "%(user)s cannot be deleted: they still own %(owns)s. Move them first with the "
        "Offboard action (or manage.py offboarduser %(user)s --to-user USERNAME | --to-team "
        "TEAM), or deactivate the user instead."
    ) % {"user": user.get_username(), "owns": owns}


def user_delete_check(user: User) -> None:
    """ValidationError with ``deletion_refusal``'s sentence, or nothing."""
    refusal = deletion_refusal(user)
    if refusal is not None:
        raise ValidationError(refusal)


@dataclass
class Offboarded:
    """What an offboarding did, for its summary."""

    connections: int = 0
    team_connections: int = 0
    keys: int = 0
    team_keys: int = 0
    sessions: int = 0
    stopped_keys: list[str] = field(default_factory=list)

    def sentence(self, user: User, target: str) -> str:
        text = (
            f"{user.get_username()} is offboarded to {target}: "
            f"{_count(self.connections, 'connection')} and {_count(self.keys, 'API key')} "
            f"moved, {_count(self.team_connections, 'team connection')} and "
            f"{_count(self.team_keys, 'team API key')} handed over, "
            f"{_count(self.sessions, 'session')} ended, user deactivated."
        )
        if self.stopped_keys:
            text += (
                f" These team keys stopped (no other admin in their team): "
                f"{_listed(self.stopped_keys)}."
            )
        return text


def _handed_over(user: User, recipient: User, connection: Connection, to_team: Team | None) -> Said:
    """The history's sentence for a connection handed over in an offboarding."""
    if connection.team is not None:
        return said(
            "move.offboarded_in_team",
            user=user.get_username(),
            team=connection.team.name,
            owner=recipient.get_username(),
        )
    if to_team is not None:
        return said("move.offboarded_to_team", user=user.get_username(), team=to_team.name)
    return said("move.offboarded_to_user", user=user.get_username(), owner=recipient.get_username())


def _first_admin(team: Team, *, besides: User) -> User | None:
    membership = (
        Membership.objects.filter(team=team, role=Role.ADMIN, user__is_active=True)
        .exclude(user=besides)
        .select_related("user")
        .order_by("created_at", "pk")
        .first()
    )
    return membership.user if membership is not None else None


def _clashes(user: User, *, to_user: User | None, to_team: Team | None) -> list[str]:
    mine = Connection.objects.filter(owner=user, team__isnull=True)
    there = (
        Connection.objects.filter(team=to_team)
        if to_team is not None
        else Connection.objects.filter(owner=to_user, team__isnull=True)
    )
    taken = set(there.values_list("name_key", flat=True))
    return [name for name in mine.values_list("name", flat=True) if name_key(name) in taken]


def sessions_end(user: User) -> int:
    """Delete every live session of ``user``; returns how many."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()
            ended += 1
    return ended


def offboard(
    *,
    user: User,
    to_user: User | None = None,
    to_team: Team | None = None,
    actor: User | None,
    source: str,
) -> Offboarded:
    """Hand everything of ``user`` to ``to_user`` or ``to_team``, then deactivate them.

    Refused (ValidationError, nothing changed) when the target is missing, the same person,
    deactivated, a team without another active admin, or already has a connection of one of
    the moved names.
    """
    if (to_user is None) == (to_team is None):
        raise ValidationError(ONE_TARGET, code="one_target")
    if to_user is not None and to_user.pk == user.pk:
        raise ValidationError(SAME_PERSON, code="same_person")
    if to_user is not None and not to_user.is_active:
        raise ValidationError(
            INACTIVE_TARGET, code="inactive", params={"user": to_user.get_username()}
        )
    team_admin = _first_admin(to_team, besides=user) if to_team is not None else None
    if to_team is not None and team_admin is None:
        raise ValidationError(NO_ADMIN, code="no_admin", params={"team": to_team.name})
    recipient = to_user if to_user is not None else team_admin
    if recipient is None:  # pragma: no cover - one of the two was checked just above
        raise ValidationError(ONE_TARGET)
    target = f"team {to_team.name}" if to_team is not None else recipient.get_username()
    done = Offboarded()
    with transaction.atomic():
        clashes = _clashes(user, to_user=to_user, to_team=to_team)
        if clashes:
            raise _name_clash(clashes, to_user=to_user, to_team=to_team)
        for connection in Connection.objects.filter(owner=user).select_for_update():
            in_team = connection.team_id is not None
            connection_move(
                connection=connection,
                team=connection.team if in_team else to_team,
                owner=recipient,
                actor=actor,
                source=source,
                message=_handed_over(user, recipient, connection, to_team),
            )
            if in_team:
                done.team_connections += 1
            else:
                done.connections += 1
        for key in ApiKey.objects.filter(owner=user).select_for_update():
            if to_team is not None:
                key.scope, key.owner, key.team = KeyScope.TEAM, None, to_team
                key.created_by = team_admin
                key.save(update_fields=["scope", "owner", "team", "created_by"])
                key.users.clear()
                key.connections.clear()
            else:
                key.owner = to_user
                if key.created_by_id == user.pk:
                    key.created_by = to_user
                key.save(update_fields=["owner", "created_by"])
                if key.scope == KeyScope.USERS:
                    through = ApiKey.users.through
                    if not through.objects.filter(apikey=key, user=to_user).exists():
                        through.objects.filter(apikey=key, user=user).update(user=to_user)
                    else:
                        through.objects.filter(apikey=key, user=user).delete()
            done.keys += 1
        for key in ApiKey.objects.filter(created_by=user, team__isnull=False).select_related(
            "team"
        ):
            successor = (
                to_user
                if to_user is not None
                and Membership.objects.filter(team=key.team, user=to_user, role=Role.ADMIN).exists()
                else _first_admin(key.team, besides=user)  # type: ignore[arg-type]
            )
            if successor is None:
                done.stopped_keys.append(key.name)
                continue
            ApiKey.objects.filter(pk=key.pk).update(created_by=successor)
            done.team_keys += 1
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        done.sessions = sessions_end(user)
        if actor is not None:
            LogEntry.objects.log_actions(
                user_id=actor.pk,
                queryset=User.objects.filter(pk=user.pk),
                action_flag=CHANGE,
                change_message=done.sentence(user, target),
                single_object=True,
            )
    return done


def offboard_targets(text_user: str = "", text_team: str = "") -> tuple[User | None, Team | None]:
    """The recipient a form or command names: a username, or a team's name."""
    from connections.access import owner_by_username
    from teams.services import team_by_name

    to_user = owner_by_username(text_user) if text_user else None
    to_team = team_by_name(text_team) if text_team else None
    if text_user and to_user is None:
        raise ValidationError(
            _("No user is named %(name)s."), code="no_user", params={"name": repr(text_user)}
        )
    if text_team and to_team is None:
        raise ValidationError(
            _("No team is named %(name)s."), code="no_team", params={"name": repr(text_team)}
        )
    return to_user, to_team


# --- What a person reads (in their language): the history entries above stay as they are.


def names_listed(names: list[str]) -> str:
    """The first names, quoted, and how many more: for a sentence a person reads."""
    shown = ", ".join(gettext("“%(name)s”") % {"name": name} for name in names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    if more <= 0:
        return shown
    return ngettext("%(names)s and %(count)d more", "%(names)s and %(count)d more", more) % {
        "names": shown,
        "count": more,
    }


def _name_clash(names: list[str], *, to_user: User | None, to_team: Team | None) -> ValidationError:
    if to_team is not None:
        return ValidationError(
            NAME_CLASH_TEAM,
            code="name_clash",
            params={"team": to_team.name, "names": names_listed(names)},
        )
    return ValidationError(
        NAME_CLASH_PERSON,
        code="name_clash",
        params={"user": to_user.get_username() if to_user else "", "names": names_listed(names)},
    )


def offboard_target_label(*, to_user: User | None, to_team: Team | None) -> str:
    """Whom everything was handed to, as a summary names them: a username or a team."""
    if to_team is not None:
        return gettext("team %(team)s") % {"team": to_team.name}
    return to_user.get_username() if to_user is not None else ""


def offboard_summary(done: Offboarded, user: User, target: str) -> str:
    """The summary the admin action and ``offboarduser`` print after an offboarding."""
    moved = gettext("%(connections)s and %(keys)s moved") % {
        "connections": ngettext("%(count)d connection", "%(count)d connections", done.connections)
        % {"count": done.connections},
        "keys": ngettext("%(count)d API key", "%(count)d API keys", done.keys)
        % {"count": done.keys},
    }
    handed = gettext("%(connections)s and %(keys)s handed over") % {
        "connections": ngettext(
            "%(count)d team connection", "%(count)d team connections", done.team_connections
        )
        % {"count": done.team_connections},
        "keys": ngettext("%(count)d team API key", "%(count)d team API keys", done.team_keys)
        % {"count": done.team_keys},
    }
    ended = ngettext("%(count)d session ended", "%(count)d sessions ended", done.sessions) % {
        "count": done.sessions
    }
    text = gettext(
        "%(user)s is offboarded to %(target)s: %(moved)s, %(handed)s, %(ended)s, user deactivated."
    ) % {
        "user": user.get_username(),
        "target": target,
        "moved": moved,
        "handed": handed,
        "ended": ended,
    }
    if done.stopped_keys:
        text += " " + gettext(
            "These team keys stopped (no other admin in their team): %(names)s."
        ) % {"names": names_listed(done.stopped_keys)}
    return text


__all__ = [
    "deletion_refusal",
    "names_listed",
    "offboard",
    "offboard_summary",
    "offboard_target_label",
    "offboard_targets",
    "user_delete_check",
]
