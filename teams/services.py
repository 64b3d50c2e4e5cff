"""Teams and their members: every change goes through here, so the rules hold everywhere.

- A team's name is unique in its normalised form (``common.text.name_key``).
- A team always keeps at least one admin: the last admin can be neither demoted nor removed
  (the team's admin rows are locked while this is checked, so two admins demoting each other
  at once cannot both succeed).
- Removing someone from a team ends their access at once: ``connections.access`` reads the
  memberships on every request, the API keys they created for the team included (the keys stay,
  owned by the team, their creator recorded, and stop working).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from common.text import is_plain_text, name_key
from connections import access
from teams.models import Membership, Role, Team

LAST_ADMIN = _("A team always keeps at least one admin: make someone else an admin first.")
NAME_TAKEN = _(
    "A team with this name already exists (names ignore case and look-alike characters)."
)
NO_SUCH_PERSON = _("Nobody has this username or email address.")
SEVERAL_PEOPLE = _("Several people have this email address: give the username.")
ALREADY_MEMBER = _("%(user)s is already a member of this team.")
NOT_ACTIVE = _("%(user)s is deactivated: only active people join teams.")
MAX_LOOKUP_LENGTH = 254


def team_by_name(name: str) -> Team | None:
    """The team a command, file or request names (compared in the normalised form)."""
    return access.team_by_name(name)


def person_by_username_or_email(text: str) -> User:
    """The active person a team admin names to add; ValidationError with a sentence if none."""
    text = text.strip()
    if not text or len(text) > MAX_LOOKUP_LENGTH or not is_plain_text(text):
        raise ValidationError(NO_SUCH_PERSON)
    # A deactivated account (someone who left) is nobody to add.
    people = get_user_model().objects.filter(
        Q(username=text) | Q(email__iexact=text), is_active=True
    )
    by_name = [p for p in people if p.username == text]
    found = by_name or list(people[:2])
    if not found:
        raise ValidationError(NO_SUCH_PERSON)
    if len(found) > 1:
        raise ValidationError(SEVERAL_PEOPLE)
    return found[0]


def team_create(*, name: str, admins: Iterable[User], members: Iterable[User] = ()) -> Team:
    """A new team with its first admins (at least one) and members."""
    admins, members = list(admins), list(members)
    if not admins:
        raise ValidationError(LAST_ADMIN)
    name = name.strip()
    team = Team(name=name)
    team.full_clean(exclude=["name_key"])
    if Team.objects.filter(name_key=name_key(name)).exists():
        raise ValidationError({"name": [NAME_TAKEN]})
    try:
        with transaction.atomic():
            team.save()
            team_members_set(team=team, admins=admins, members=members)
    except IntegrityError:
        raise ValidationError({"name": [NAME_TAKEN]}) from None
    return team


def team_members_set(*, team: Team, admins: Iterable[User], members: Iterable[User]) -> None:
    """Make the team's members exactly these (an admin named twice stays an admin)."""
    roles = {user.pk: Role.MEMBER for user in members}
    roles.update({user.pk: Role.ADMIN for user in admins})
    if Role.ADMIN not in roles.values():
        raise ValidationError(LAST_ADMIN)
    with transaction.atomic():
        Membership.objects.filter(team=team).exclude(user_id__in=roles).delete()
        current = {m.user_id: m for m in Membership.objects.filter(team=team)}
        for user_id, role in roles.items():
            membership = current.get(user_id)
            if membership is None:
                Membership.objects.create(team=team, user_id=user_id, role=role)
            elif membership.role != role:
                membership.role = role
                membership.save(update_fields=["role"])


def member_add(*, team: Team, user: User, role: str = Role.MEMBER) -> Membership:
    if not user.is_active:
        raise ValidationError(NOT_ACTIVE, code="inactive", params={"user": user.get_username()})
    try:
        with transaction.atomic():
            return Membership.objects.create(team=team, user=user, role=Role(role))
    except IntegrityError:
        raise ValidationError(
            ALREADY_MEMBER, code="already_member", params={"user": user.get_username()}
        ) from None


def _keeps_an_admin(team: Team, leaving: Membership) -> None:
    admins = list(
        Membership.objects.select_for_update()
        .filter(team=team, role=Role.ADMIN)
        .values_list("pk", flat=True)
    )
    if leaving.role == Role.ADMIN and admins == [leaving.pk]:
        raise ValidationError(LAST_ADMIN)


def member_role_set(*, membership: Membership, role: str) -> Membership:
    role = Role(role)
    with transaction.atomic():
        if role != Role.ADMIN:
            _keeps_an_admin(membership.team, membership)
        Membership.objects.filter(pk=membership.pk).update(role=role)
    membership.role = role
    return membership


def member_remove(*, membership: Membership) -> None:
    """Take someone out of a team: their access to its connections and keys ends at once."""
    with transaction.atomic():
        _keeps_an_admin(membership.team, membership)
        membership.delete()


def team_member_alerts_set(*, user: User, team_ids: Iterable[int]) -> int:
    """A person's per-team alert setting: on for these teams, off for their others."""
    wanted = set(team_ids)
    rows = Membership.objects.filter(user=user)
    rows.exclude(team_id__in=wanted).update(alerts=False)
    return rows.filter(team_id__in=wanted).update(alerts=True)


__all__ = [
    "member_add",
    "member_remove",
    "member_role_set",
    "person_by_username_or_email",
    "team_by_name",
    "team_create",
    "team_member_alerts_set",
    "team_members_set",
]
