"""Create, change and delete connections for an API key: the request translated, then the rules.

Every rule lives in ``connections.rules``; this module only turns the API's JSON (ids, codes,
usernames, absent fields) into a ``ConnectionInput`` within the key's reach.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import PermissionDenied

from api import keys
from api.models import ApiKey, KeyScope
from common.text import name_key
from connections import access, rules, services
from connections.models import Connection, Scope, Source
from connections.moves import moved_sentence
from connections.wording import Said
from oauthclients.models import OAuthClient

OWNER_OUT_OF_REACH = _("No user with this username is within this API key's reach.")
NAME_THE_OWNER = _("This API key does not reach its owner's connections: name the owner.")
UNKNOWN_CLIENT = _("No OAuth 2.0 client has this id.")
CHOSEN_CONNECTIONS_ONLY = _(
    "This API key reaches only chosen connections, so it cannot create new ones."
)
TEAM_OUT_OF_REACH = _("No team with this name is within this API key's reach.")
MOVE_NEEDS_ALL = _(
    "Moving a connection into, out of or between teams needs an API key that reaches every "
    "connection."
)


def _refused(field: str, message: str | Promise) -> ValidationError:
    return ValidationError({field: [ValidationError(str(message), code="invalid")]})


def _owner(key: ApiKey, username: str) -> User:
    """The user a request names, if the key reaches that user's connections."""
    user = access.owner_by_username(username)
    if user is None or not access.key_reaches_owner(key, user):
        raise _refused("owner", OWNER_OUT_OF_REACH)
    return user


def _default_owner(key: ApiKey) -> User:
    """Who a new connection belongs to when the request names nobody: the key's owner, if the
    key reaches the owner's connections (else the connection would be out of its reach); for
    a team's key, its creator (the connection then belongs to the team)."""
    if key.scope == KeyScope.TEAM:
        return keys.key_actor(key)
    if key.owner is None or not access.key_reaches_owner(key, key.owner):
        raise _refused("owner", NAME_THE_OWNER)
    return key.owner


def _team(key: ApiKey, connection: Connection | None, data: dict[str, Any]) -> Any:
    """The team the request puts the connection in (``rules.KEEP_TEAM``: where it is).

    A team's key creates in its own team; only a key reaching every connection (an
    operator's) moves one into, out of or between teams.
    """
    if "team" not in data:
        if connection is None and key.scope == KeyScope.TEAM:
            return key.team
        return rules.KEEP_TEAM if connection is not None else None
    name = data["team"]
    team = None
    if name:
        team = access.team_model()._default_manager.filter(name_key=name_key(name)).first()
        if team is None:
            raise _refused("team", TEAM_OUT_OF_REACH)
    current = connection.team_id if connection is not None else None
    if connection is None:
        allowed = (
            key.scope == KeyScope.ALL
            or (key.scope == KeyScope.TEAM and team is not None and team.pk == key.team_id)
            or (key.scope == KeyScope.USERS and team is None)
        )
        if not allowed:
            raise _refused("team", TEAM_OUT_OF_REACH)
    elif (team.pk if team is not None else None) != current and key.scope != KeyScope.ALL:
        raise _refused("team", MOVE_NEEDS_ALL)
    return team


def _client(pk: int | None) -> OAuthClient | None:
    if pk is None:
        return None
    client = OAuthClient.objects.filter(pk=pk).first()
    if client is None:
        raise _refused("oauth_client", UNKNOWN_CLIENT)
    return client


def _scopes(codes: list[str]) -> frozenset[Scope]:
    wanted = list(dict.fromkeys(codes))
    found = {scope.code: scope for scope in Scope.objects.filter(code__in=wanted)}
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise _refused("scopes", f"Unknown scope: {', '.join(unknown)}.")
    return frozenset(found.values())


def _input(
    key: ApiKey, connection: Connection | None, data: dict[str, Any]
) -> rules.ConnectionInput:
    """The requested state: what the client sent, and for a change the stored rest."""

    def sent_or_stored(name: str, default: Any) -> Any:
        return data[name] if name in data else default

    stored = connection
    team = _team(key, connection, data)
    owner = (
        _owner(key, data["owner"])
        if "owner" in data
        else (stored.owner if stored is not None else _default_owner(key))
    )
    return rules.ConnectionInput(
        name=sent_or_stored("name", stored.name if stored else ""),
        company_name=sent_or_stored("company_name", stored.company_name if stored else ""),
        auth_type=sent_or_stored("auth_type", stored.auth_type if stored else ""),
        owner=owner,
        # Absent or empty: a blank token, which the rules' policy for the API keeps if stored.
        api_token=data.get("api_token") or None,
        oauth_client=(
            _client(data["oauth_client"])
            if "oauth_client" in data
            else (stored.oauth_client if stored else None)
        ),
        scopes=(
            _scopes(data["scopes"])
            if "scopes" in data
            else frozenset(stored.scopes.all() if stored else ())
        ),
        team=team,
    )


def _apply(*, key: ApiKey, connection: Connection | None, data: dict[str, Any]) -> Connection:
    requested = _input(key, connection, data)
    owner_id = connection.owner_id if connection is not None else None
    moved = Said()
    if connection is not None and requested.team is not rules.KEEP_TEAM:
        new_team = requested.team.pk if requested.team is not None else None
        if new_team != connection.team_id:
            moved = moved_sentence(connection.team, requested.team)
    result = rules.connection_apply(
        connection=connection,
        data=requested,
        token_policy=rules.token_policy_for(
            actor=keys.key_actor(key), source=Source.API, owner_id=owner_id
        ),
        actor=keys.key_actor(key),
        source=Source.API,
        message=moved,
    )
    return result.connection


def connection_create_for_key(*, key: ApiKey, data: dict[str, Any]) -> Connection:
    """Create a connection owned by someone the key reaches (the key's owner by default)."""
    if key.scope == KeyScope.CONNECTIONS:
        raise PermissionDenied(CHOSEN_CONNECTIONS_ONLY)
    return _apply(key=key, connection=None, data=data)


def connection_change_for_key(
    *, key: ApiKey, connection: Connection, data: dict[str, Any]
) -> Connection:
    """Change a connection; fields the client did not send keep their stored values."""
    return _apply(key=key, connection=connection, data=data)


def connection_delete_for_key(*, key: ApiKey, connection: Connection) -> None:
    """Delete a connection, recording the key and its creator as the ones who did it."""
    services.connection_delete(connection=connection, actor=keys.key_actor(key), source=Source.API)
