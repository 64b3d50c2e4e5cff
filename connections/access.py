"""Who may see and change which connections, and what an API key reaches: the one place.

Every screen, command and API path asks here instead of filtering by owner itself:

* **Operators** are active staff users holding the connection model's permission: ``view`` (or
  ``change``) to see every connection, ``change`` to change every connection. Superusers hold
  every permission, so an active staff superuser is an operator.
* **Members** see and change the connections they own (their own: ``team`` empty).
* **Teams**: a team's connections are seen, used and tested by every member of the team; its
  admins, and its creator while still a member, change, authorize, disconnect and delete them.
  Being a connection's ``owner`` (its creator) gives nothing once its team no longer has you:
  removing someone from a team ends their access at once. Team admins administer the team
  (members, keys); a connection moves between teams only for someone administering both sides.
* ``as_operator=False`` asks about a person's *own* connections only, whatever their rights: the
  self-service pages (``/connections/``) are a member's page for everyone, operators included.
* **Acting for others** (owning an API key on someone's behalf): a user may act for themselves;
  an active superuser, or active staff holding ``auth.change_user``, may act for anyone.
* **An API key** reaches every connection, the personal connections of chosen users, chosen
  personal connections, or one team's connections (``KeyReach``). ``connections_for_key`` is
  the rule; ``connection_in_reach`` is the same rule compiled once per process for the proxy's
  hot path. A key never reaches beyond what its owner may see (change, for
  ``token``/``proxy``/``write``): ``reach_within_rights``.
  A key is shown only to who may see all it reaches (``keys_visible_to``). A team's key
  works only while its creator is an active member of the team (an admin, for ``write``):
  ``team_key_creator_role`` and ``team_key_in_force``.

This module imports no other app: it works on any key object with ``pk``, ``scope``,
``owner_id`` and ``users``/``connections`` many-to-many managers (``api.models.ApiKey``), and
reaches teams through the relation names (``Connection.team``, ``Team.memberships``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.db.models import BooleanField, Case, Exists, OuterRef, QuerySet, When
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from common.statements import CompiledQuery, Mark
from common.text import is_plain_text, name_key
from connections.models import Connection

VIEW_ALL = "connections.view_connection"
# teams.models.Role.ADMIN: the role that administers a team.
TEAM_ADMIN = "admin"
CHANGE_ALL = "connections.change_connection"
ACT_FOR_OTHERS = "auth.change_user"
# No username is longer (Django's limit is 150); longer values are never queried.
MAX_USERNAME_LENGTH = 255

AnyUser = User | AnonymousUser


class KeyReach(models.TextChoices):
    """What an API key reaches (``ApiKey.scope``)."""

    ALL = "all", _("All connections")
    USERS = "users", _("The connections of chosen users")
    CONNECTIONS = "connections", _("Chosen connections")
    TEAM = "team", _("The connections of one team")


class KeyLike(Protocol):
    """What this module reads of an API key (``api.models.ApiKey``)."""

    pk: Any
    scope: str
    owner_id: Any
    users: Any
    connections: Any


# --- teams (through relation names: this module imports no other app) ------------------------


def team_model() -> type[models.Model]:
    """The team model (``teams.Team``), reached through ``Connection.team``."""
    return cast(type[models.Model], Connection._meta.get_field("team").related_model)


def _membership_model() -> type[models.Model]:
    return cast(type[models.Model], team_model()._meta.get_field("memberships").related_model)


def team_ids_of(user: AnyUser | None, *, admin: bool = False) -> QuerySet[Any]:
    """The ids of the teams ``user`` is in (``admin``: administers), as a subquery."""
    memberships = _membership_model()._default_manager
    if user is None or not user.is_authenticated or not user.is_active:
        return memberships.none().values("team_id")
    rows = memberships.filter(user_id=user.pk)
    if admin:
        rows = rows.filter(role=TEAM_ADMIN)
    return rows.values("team_id")


def teams_of(user: AnyUser | None, *, admin: bool = False) -> QuerySet[Any]:
    """The teams ``user`` is in (``admin``: the teams they administer), by name."""
    return team_model()._default_manager.filter(pk__in=team_ids_of(user, admin=admin))


def team_by_name(name: str) -> Any:
    """The team a command, file or request names, compared in the normalised form, or None."""
    if not name or len(name) > MAX_USERNAME_LENGTH or not is_plain_text(name):
        return None
    return team_model()._default_manager.filter(name_key=name_key(name)).first()


def teams_visible_to(user: AnyUser | None) -> QuerySet[Any]:
    """The teams whose page ``user`` may open: their own, every team for operators."""
    if user_is_operator(user):
        return team_model()._default_manager.all()
    return teams_of(user)


def user_administers_team(user: AnyUser | None, team: Any, *, as_operator: bool = True) -> bool:
    """Whether ``user`` manages ``team``'s members, connections and keys (operators who may
    change connections do too, unless ``as_operator=False``: the self-service pages)."""
    if team is None:
        return False
    if as_operator and user_is_operator(user, change=True):
        return True
    return bool(teams_of(user, admin=True).filter(pk=team.pk).exists())


def user_in_team(user: AnyUser | None, team: Any) -> bool:
    """Whether ``user`` is a member (any role) of ``team``: may add connections to it."""
    return team is not None and bool(teams_of(user).filter(pk=team.pk).exists())


def user_may_place(user: AnyUser | None, team: Any, *, as_operator: bool = True) -> bool:
    """Whether ``user`` may put a connection into ``team`` (None: their own connections):
    every member may add to a team, operators who may change connections anywhere."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if team is None:
        return True
    if as_operator and user_is_operator(user, change=True):
        return True
    return user_in_team(user, team)


def user_may_move(
    user: AnyUser | None, connection: Connection, team: Any, *, as_operator: bool = True
) -> bool:
    """Whether ``user`` may move ``connection`` to ``team`` (None: to its owner's own).

    Moving is administering both sides: the side it leaves (a team's admin, or the owner of a
    personal connection) and the side it joins (an admin of that team, or, to "own", the owner).
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if as_operator and user_is_operator(user, change=True):
        return True

    def administers(side: Any) -> bool:
        if side is None:
            return connection.owner_id == user.pk
        return bool(teams_of(user, admin=True).filter(pk=side.pk).exists())

    return administers(connection.team) and administers(team)


def team_alert_people(team: Any) -> QuerySet[User]:
    """Who hears about a team's connection: its active admins and the members who opted in
    (``Membership.alerts``), by username."""
    memberships = (
        _membership_model()
        ._default_manager.filter(team_id=team.pk)
        .filter(models.Q(role=TEAM_ADMIN) | models.Q(alerts=True))
    )
    return cast(
        QuerySet[User],
        get_user_model()
        .objects.filter(is_active=True, pk__in=memberships.values("user_id"))
        .order_by("username"),
    )


def _visible_q(user: AnyUser) -> models.Q:
    # A person's teams are read once as a short list (a person is in few teams): "team_id IN
    # (1, 2, …) OR own" lets the database use both indexes, where a subquery inside the OR
    # made PostgreSQL scan every connection.
    teams = list(team_ids_of(user).values_list("team_id", flat=True))
    return models.Q(team__isnull=True, owner_id=user.pk) | models.Q(team_id__in=teams)


def _changeable_q(user: AnyUser) -> models.Q:
    roles = list(team_ids_of(user).values_list("team_id", "role"))
    teams = [team for team, _role in roles]
    admin_teams = [team for team, role in roles if role == TEAM_ADMIN]
    return (
        models.Q(team__isnull=True, owner_id=user.pk)
        | models.Q(team_id__in=admin_teams)
        | models.Q(owner_id=user.pk, team_id__in=teams)
    )


# --- people -------------------------------------------------------------------------------


def user_is_operator(user: AnyUser | None, *, change: bool = False) -> bool:
    """Whether ``user`` sees (``change``: changes) every connection."""
    if user is None or not user.is_authenticated:
        return False
    if not (user.is_active and getattr(user, "is_staff", False)):
        return False
    if user.has_perm(CHANGE_ALL):
        return True
    return not change and user.has_perm(VIEW_ALL)


def user_may_act_for_others(issuer: AnyUser | None) -> bool:
    """Whether ``issuer`` may make others accountable: active superusers, or staff who may
    change users."""
    if issuer is None or not issuer.is_authenticated or not issuer.is_active:
        return False
    if getattr(issuer, "is_superuser", False):
        return True
    return bool(getattr(issuer, "is_staff", False) and issuer.has_perm(ACT_FOR_OTHERS))


def user_may_act_for(issuer: AnyUser | None, user: AnyUser | None) -> bool:
    """Whether ``issuer`` may make ``user`` accountable for something (such as an API key)."""
    if issuer is None or user is None or not issuer.is_authenticated or not issuer.is_active:
        return False
    return issuer.pk == user.pk or user_may_act_for_others(issuer)


def owner_by_username(username: str) -> User | None:
    """The user a form, file, command or API request names as an owner, or None.

    Values no username can be (control characters such as NUL, which PostgreSQL refuses, or
    overlong text) are never queried.
    """
    if not username or len(username) > MAX_USERNAME_LENGTH or not is_plain_text(username):
        return None
    return cast(User | None, get_user_model().objects.filter(username=username).first())


def no_such_owner(username: str, *, option: str = "--owner") -> str:
    """The sentence a command prints for an owner nobody is named."""
    return gettext("%(option)s: no user is named %(username)s.") % {
        "option": option,
        "username": repr(username),
    }


# --- connections --------------------------------------------------------------------------


def connections_visible_to(
    user: AnyUser | None, *, as_operator: bool = True
) -> QuerySet[Connection]:
    """The connections ``user`` may see: every one for operators, else their own and their
    teams'."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Connection.objects.none()
    if as_operator and user_is_operator(user):
        return Connection.objects.all()
    return Connection.objects.filter(_visible_q(user))


def connections_changeable_by(
    user: AnyUser | None, *, as_operator: bool = True
) -> QuerySet[Connection]:
    """The connections ``user`` may change (edit, authorize, disconnect, delete): every one for
    operators with change, else their own, their teams' as an admin, and those they created in
    a team they are still in."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Connection.objects.none()
    if as_operator and user_is_operator(user, change=True):
        return Connection.objects.all()
    return Connection.objects.filter(_changeable_q(user))


def rows_about_visible_connections(
    user: AnyUser | None, rows: QuerySet[Any], connection: str = "connection"
) -> QuerySet[Any]:
    """The rows of a log about connections (history, alerts) that ``user`` may see.

    Operators see every row, those about deleted connections included; anyone else, the rows
    about connections they may see. ``connection`` is the lookup from a row to its connection.
    """
    if user_is_operator(user):
        return rows
    return rows.filter(**{f"{connection}__in": connections_visible_to(user)})


def user_may_view(
    user: AnyUser | None, connection: Connection, *, as_operator: bool = True
) -> bool:
    return connections_visible_to(user, as_operator=as_operator).filter(pk=connection.pk).exists()


def user_may_change(
    user: AnyUser | None, connection: Connection, *, as_operator: bool = True
) -> bool:
    changeable = connections_changeable_by(user, as_operator=as_operator)
    return changeable.filter(pk=connection.pk).exists()


def user_may_reach_owner(user: AnyUser | None, owner: AnyUser, *, change: bool = False) -> bool:
    """Whether ``user`` may see (change) every personal connection ``owner`` has, and will have."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.pk == owner.pk or user_is_operator(user, change=change)


# --- API keys -----------------------------------------------------------------------------


def reach_within_rights(
    user: AnyUser | None,
    *,
    scope: str,
    users: Iterable[AnyUser] = (),
    connections: Iterable[Connection] = (),
    team: Any = None,
    change: bool = False,
) -> bool:
    """Whether everything a key with this reach reaches is visible (changeable) to ``user``.

    Checked for whoever issues or changes a key, for the key's owner when it is issued, and
    (through ``key_reach_beyond_owner``) on every request the key makes.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if scope == KeyReach.ALL:
        return user_is_operator(user, change=change)
    if scope == KeyReach.USERS:
        return all(user_may_reach_owner(user, other, change=change) for other in users)
    if scope == KeyReach.TEAM:
        # A team's key is its admins' to issue (operators too must be in the team): it works
        # only while its creator stays in the team (team_key_in_force).
        return user_administers_team(user, team, as_operator=False)
    wanted = {connection.pk for connection in connections}
    if not wanted:
        return True
    if user_is_operator(user, change=change):
        return True
    # A personal key chooses among its holder's own connections; teams have team keys.
    allowed = Connection.objects.filter(team__isnull=True, owner_id=user.pk)
    return set(allowed.filter(pk__in=wanted).values_list("pk", flat=True)) == wanted


def key_reach_beyond_owner(key_model: type) -> Case:
    """SQL for "this key reaches more than its owner's own connections", to annotate keys with.

    Such a key works only while its owner may still see (change) all it reaches, which for a
    reach beyond one's own connections means being an operator (``reach_within_rights``).
    """
    users = key_model.users.through  # type: ignore[attr-defined]
    chosen = key_model.connections.through  # type: ignore[attr-defined]
    others = users.objects.filter(apikey=OuterRef("pk")).exclude(user=OuterRef("owner"))
    theirs = chosen.objects.filter(apikey=OuterRef("pk")).exclude(
        connection__owner=OuterRef("owner"), connection__team__isnull=True
    )
    return Case(
        When(scope=KeyReach.ALL, then=True),
        When(scope=KeyReach.USERS, then=Exists(others)),
        # A team's key is judged by its creator's membership instead (team_key_creator_role).
        When(scope=KeyReach.TEAM, then=False),
        default=Exists(theirs),
        output_field=BooleanField(),
    )


def team_key_creator_role(key_model: type) -> Any:
    """SQL for the role the creator of a team's key holds in its team while active (else NULL),
    to annotate keys with; ``team_key_in_force`` reads it."""
    memberships = _membership_model()._default_manager.filter(
        team_id=OuterRef("team_id"), user_id=OuterRef("created_by_id"), user__is_active=True
    )
    return models.Subquery(memberships.values("role")[:1])


def team_key_in_force(role: str | None, *, change: bool) -> bool:
    """Whether a team's key whose creator holds ``role`` in the team (None: not in it, or
    deactivated) still works: a member's rights for reading and using, an admin's for
    ``write``. Removing the creator from the team stops the key at once."""
    if role is None:
        return False
    return role == TEAM_ADMIN or not change


def keys_visible_to(user: AnyUser | None, keys: QuerySet[Any]) -> QuerySet[Any]:
    """The keys of ``keys`` whose whole reach ``user`` may see (``reach_within_rights`` as SQL).

    A key's pages name what it reaches: operators see every key; anyone else, the keys that
    reach only their own connections, and the keys of the teams they administer.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return keys.none()
    if user_is_operator(user):
        return keys
    users = keys.model.users.through
    chosen = keys.model.connections.through
    others = users.objects.filter(apikey=OuterRef("pk")).exclude(user=user.pk)
    theirs = chosen.objects.filter(apikey=OuterRef("pk")).exclude(
        connection__owner=user.pk, connection__team__isnull=True
    )
    return keys.filter(
        (models.Q(scope=KeyReach.USERS) & ~Exists(others))
        | (models.Q(scope=KeyReach.CONNECTIONS) & ~Exists(theirs))
        | models.Q(scope=KeyReach.TEAM, team_id__in=team_ids_of(user, admin=True))
    )


def _reach_filter(key: KeyLike) -> models.Q | None:
    """THE rule of a key's reach, as a filter on connections (None: every connection)."""
    if key.scope == KeyReach.ALL:
        return None
    if key.scope == KeyReach.USERS:
        through = key.users.through
        return models.Q(
            team__isnull=True, owner__in=through.objects.filter(apikey=key.pk).values("user")
        )
    if key.scope == KeyReach.TEAM:
        return models.Q(team__api_keys=key.pk)
    through = key.connections.through
    return models.Q(pk__in=through.objects.filter(apikey=key.pk).values("connection"))


def connections_for_key(key: KeyLike) -> QuerySet[Connection]:
    """The connections this key reaches; the only queryset API views look up in."""
    rule = _reach_filter(key)
    return Connection.objects.all() if rule is None else Connection.objects.filter(rule)


def key_reaches_owner(key: KeyLike, user: AnyUser) -> bool:
    """Whether the personal connections of ``user`` (existing and new) are within the key's
    reach."""
    if key.scope == KeyReach.ALL:
        return True
    if key.scope == KeyReach.USERS:
        return bool(key.users.filter(pk=user.pk).exists())
    return False


# Stand-ins for the two values a reach statement takes; replaced by the real ones per call.
_PK_MARK = -7_000_000_001
_KEY_MARK = -7_000_000_002


class _Stand:
    """A key with only what ``_reach_filter`` reads: used to compile a statement once."""

    def __init__(self, key_type: type, scope: str) -> None:
        self.pk = _KEY_MARK
        self.scope = scope
        self.owner_id = None
        self.users = key_type.users  # type: ignore[attr-defined]
        self.connections = key_type.connections  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=64)
def _reach_query(key_type: type, scope: str, fields: tuple[str, ...]) -> CompiledQuery[Connection]:
    """``connections_for_key(...).filter(pk=...).only(fields)``, compiled once per process."""

    def build(marks: Mapping[str, Any]) -> QuerySet[Connection]:
        stand = cast(KeyLike, _Stand(key_type, scope))
        return connections_for_key(stand).filter(pk=marks["pk"]).only(*fields).order_by()

    # A key reaching every connection needs no key in its statement.
    return CompiledQuery(
        build, Mark("pk", _PK_MARK), Mark("key", _KEY_MARK, optional=scope == KeyReach.ALL)
    )


def connection_in_reach(key: KeyLike, pk: int, fields: Iterable[str]) -> Connection | None:
    """One connection within the key's reach, with only ``fields`` loaded: the proxy's hot path.

    The statement is ``connections_for_key``'s own query, compiled once per process and per
    reach kind (``common.statements``), so the rule is written once and the hot path skips the
    ORM's query building.
    """
    query = _reach_query(type(key), key.scope, tuple(sorted(set(fields))))
    return query.first(pk=pk, key=key.pk)


__all__ = [
    "KeyReach",
    "connection_in_reach",
    "connections_changeable_by",
    "connections_for_key",
    "connections_visible_to",
    "key_reach_beyond_owner",
    "key_reaches_owner",
    "keys_visible_to",
    "team_alert_people",
    "team_by_name",
    "team_ids_of",
    "team_key_creator_role",
    "team_key_in_force",
    "team_model",
    "teams_of",
    "teams_visible_to",
    "user_administers_team",
    "user_in_team",
    "user_may_move",
    "user_may_place",
    "no_such_owner",
    "owner_by_username",
    "reach_within_rights",
    "rows_about_visible_connections",
    "user_is_operator",
    "user_may_act_for",
    "user_may_act_for_others",
    "user_may_change",
    "user_may_reach_owner",
    "user_may_view",
]
