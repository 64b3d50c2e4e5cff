"""Create, change and delete connections for an API key: the request translated, then the rules.

Every rule lives in ``connections.rules``; this module only turns the API's JSON (ids, codes,
usernames, absent fields) into a ``ConnectionInput`` within the key's reach.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from rest_framework.exceptions import PermissionDenied

from api import keys
from api.models import ApiKey, KeyScope
from connections import access, rules, services
from connections.models import Connection, Scope, Source
from oauthclients.models import OAuthClient

OWNER_OUT_OF_REACH = "No user with this username is within this API key's reach."
NAME_THE_OWNER = "This API key does not reach its owner's connections: name the owner."
UNKNOWN_CLIENT = "No OAuth 2.0 client has this id."
CHOSEN_CONNECTIONS_ONLY = (
    "This API key reaches only chosen connections, so it cannot create new ones."
)


def _refused(field: str, message: str) -> ValidationError:
    return ValidationError({field: [ValidationError(message, code="invalid")]})


def _owner(key: ApiKey, username: str) -> User:
    """The user a request names, if the key reaches that user's connections."""
    user = access.owner_by_username(username)
    if user is None or not access.key_reaches_owner(key, user):
        raise _refused("owner", OWNER_OUT_OF_REACH)
    return user


def _default_owner(key: ApiKey) -> User:
    """Who a new connection belongs to when the request names nobody: the key's owner, if the
    key reaches the owner's connections (else the connection would be out of its reach)."""
    if not access.key_reaches_owner(key, key.owner):
        raise _refused("owner", NAME_THE_OWNER)
    return key.owner


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
    )


def _apply(*, key: ApiKey, connection: Connection | None, data: dict[str, Any]) -> Connection:
    requested = _input(key, connection, data)
    owner_id = connection.owner_id if connection is not None else None
    result = rules.connection_apply(
        connection=connection,
        data=requested,
        token_policy=rules.token_policy_for(actor=key.owner, source=Source.API, owner_id=owner_id),
        actor=keys.key_actor(key),
        source=Source.API,
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
