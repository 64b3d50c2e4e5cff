"""Create, change and delete connections for an API key, through the domain core's rules."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from rest_framework.exceptions import PermissionDenied

from api import keys
from api.models import ApiKey, KeyScope
from connections import services
from connections.forms import ConnectionAdminForm
from connections.models import Connection, Scope, Source

OWNER_OUT_OF_REACH = "No user with this username is within this API key's reach."
CHOSEN_CONNECTIONS_ONLY = (
    "This API key reaches only chosen connections, so it cannot create new ones."
)


def _owner(key: ApiKey, username: str | None) -> User:
    """The owner a request names, if the key reaches that user's connections."""
    if username is None:
        return key.owner
    user = get_user_model().objects.filter(username=username).first()
    if user is None or not keys.user_in_scope(key, user):
        raise ValidationError({"owner": ValidationError(OWNER_OUT_OF_REACH, code="invalid")})
    return user


def _form_data(connection: Connection | None, data: dict[str, Any], owner: User) -> dict[str, Any]:
    """The connection form's data: the stored values, overlaid with what the client sent."""
    values: dict[str, Any] = {"owner": owner.pk}
    if connection is not None:
        values.update(
            name=connection.name,
            company_name=connection.company_name,
            auth_type=connection.auth_type,
            oauth_client=connection.oauth_client_id or "",
            scopes=[scope.pk for scope in connection.scopes.all()],
        )
    for name in ("name", "company_name", "auth_type", "api_token"):
        if name in data:
            values[name] = data[name]
    if "oauth_client" in data:
        values["oauth_client"] = data["oauth_client"] or ""
    if "scopes" in data:
        codes = list(dict.fromkeys(data["scopes"]))
        found = dict(Scope.objects.filter(code__in=codes).values_list("code", "pk"))
        unknown = [code for code in codes if code not in found]
        if unknown:
            raise ValidationError(
                {"scopes": ValidationError(f"Unknown scope: {', '.join(unknown)}.", code="invalid")}
            )
        values["scopes"] = [found[code] for code in codes]
    return values


def _apply(
    *, key: ApiKey, connection: Connection | None, data: dict[str, Any], owner: User
) -> Connection:
    form = ConnectionAdminForm(
        data=_form_data(connection, data, owner), instance=connection, owner=owner
    )
    if not form.is_valid():
        raise ValidationError(form.errors.as_data())
    prepared = form.save(commit=False)
    return services.connection_save(
        connection=prepared,
        scopes=form.cleaned_data.get("scopes") or [],
        actor=key.owner,
        source=Source.API,
        changed_fields=form.changed_data,
    )


def connection_create_for_key(*, key: ApiKey, data: dict[str, Any]) -> Connection:
    """Create a connection owned by someone the key reaches, with the form's rules."""
    if key.scope == KeyScope.CONNECTIONS:
        raise PermissionDenied(CHOSEN_CONNECTIONS_ONLY)
    owner = _owner(key, data.get("owner"))
    return _apply(key=key, connection=None, data=data, owner=owner)


def connection_change_for_key(
    *, key: ApiKey, connection: Connection, data: dict[str, Any]
) -> Connection:
    """Change a connection with the form's rules; fields the client did not send stay."""
    owner = _owner(key, data["owner"]) if "owner" in data else connection.owner
    return _apply(key=key, connection=connection, data=data, owner=owner)


def connection_delete_for_key(*, key: ApiKey, connection: Connection) -> None:
    """Delete a connection, recording who did it through which key's owner."""
    services.connection_delete(connection=connection, actor=key.owner, source=Source.API)
