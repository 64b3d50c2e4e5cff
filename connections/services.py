"""Every flow that writes connections or calls out to Front."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from connections import front, ratelimit
from connections.models import (
    Action,
    Connection,
    Event,
    Scope,
    Source,
    Status,
)


def event_record(
    *,
    connection: Connection,
    action: str,
    source: str,
    actor: User | AnonymousUser | None = None,
    success: bool = True,
    message: str = "",
    fields: Iterable[str] = (),
) -> Event:
    """Append one history entry; the message must never contain a secret."""
    return Event.objects.create(
        connection=connection,
        connection_name=connection.name,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        source=source,
        success=success,
        message=message[:500],
        fields=sorted(fields),
    )


def connection_save(
    *,
    connection: Connection,
    scopes: Iterable[Scope],
    actor: User | None,
    source: str,
    changed_fields: Iterable[str] = (),
) -> Connection:
    """Save a connection prepared by ConnectionForm, set its scopes, and record the change."""
    created = connection.pk is None
    with transaction.atomic():
        connection.save()
        connection.scopes.set(list(scopes))
        event_record(
            connection=connection,
            action=Action.CREATED if created else Action.UPDATED,
            source=source,
            actor=actor,
            fields=changed_fields,
        )
    return connection


def connection_delete(*, connection: Connection, actor: User | None, source: str) -> None:
    """Delete a connection, keeping a 'deleted' entry in the history."""
    with transaction.atomic():
        event_record(connection=connection, action=Action.DELETED, source=source, actor=actor)
        connection.delete()


REFRESH_MARGIN = timedelta(minutes=5)
NOT_AUTHORIZED_YET = "Not authorized yet: use Save and authorize to sign in to Front."
REAUTHORIZE_NEEDED = (
    "Front no longer accepts this connection's authorization: use Save and authorize again."
)


@sensitive_variables("tokens", "secret")
def _refresh(*, connection: Connection, actor: User | None, source: str, force: bool) -> Connection:
    """Refresh under a row lock unless the re-read row shows someone else already did."""
    failure: front.FrontError | None = None
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        already_refreshed = locked.access_token_expires_at != connection.access_token_expires_at
        fresh = locked.access_token and not locked.access_token_expires_within(
            int(REFRESH_MARGIN.total_seconds())
        )
        if fresh and (not force or already_refreshed):
            return locked
        if locked.status == Status.REAUTHORIZE:
            raise front.FrontError(REAUTHORIZE_NEEDED, kind="invalid_grant")
        if not locked.refresh_token or locked.oauth_client is None:
            raise front.FrontError(NOT_AUTHORIZED_YET, kind="unauthorized")
        secret = locked.oauth_client.client_secret
        try:
            tokens = front.refresh_tokens(
                client_id=locked.oauth_client.client_id,
                client_secret=str(secret),
                refresh_token=str(locked.refresh_token),
            )
        except front.FrontError as exc:
            failure = exc
            if exc.kind == "invalid_grant":
                locked.status = Status.REAUTHORIZE
                locked.last_check_result = REAUTHORIZE_NEEDED
                locked.save(update_fields=["status", "last_check_result", "updated_at"])
            event_record(
                connection=locked,
                action=Action.REFRESHED,
                source=source,
                actor=actor,
                success=False,
                message=str(exc),
            )
        else:
            locked.access_token = tokens.access_token
            if tokens.refresh_token:
                locked.refresh_token = tokens.refresh_token
            locked.access_token_expires_at = tokens.expires_at
            locked.save(
                update_fields=[
                    "access_token",
                    "refresh_token",
                    "access_token_expires_at",
                    "updated_at",
                ]
            )
            event_record(
                connection=locked,
                action=Action.REFRESHED,
                source=source,
                actor=actor,
                message=f"Access token renewed until {tokens.expires_at:%Y-%m-%d %H:%M} UTC.",
            )
    if failure is not None:
        raise failure
    return locked


def _copy_tokens(source: Connection, target: Connection) -> None:
    for name in (
        "access_token",
        "refresh_token",
        "access_token_expires_at",
        "status",
        "last_check_result",
    ):
        setattr(target, name, getattr(source, name))


@sensitive_variables("fresh")
def connection_access_token(*, connection: Connection) -> str:
    """A bearer token for Front: the API token, or an access token refreshed when near expiry."""
    if not connection.is_oauth:
        if not connection.api_token:
            raise front.FrontError(
                "No readable API token is stored: enter it again.", kind="unauthorized"
            )
        return str(connection.api_token)
    margin = int(REFRESH_MARGIN.total_seconds())
    if connection.access_token and not connection.access_token_expires_within(margin):
        return str(connection.access_token)
    fresh = _refresh(connection=connection, actor=None, source=Source.WORKER, force=False)
    _copy_tokens(fresh, connection)
    return str(fresh.access_token)


def connection_refresh(
    *, connection: Connection, actor: User | None = None, source: str
) -> Connection:
    """Refresh now, unless another process refreshed this connection since it was read."""
    if not connection.is_oauth:
        raise front.FrontError("Only OAuth 2.0 connections have tokens to refresh.")
    fresh = _refresh(connection=connection, actor=actor, source=source, force=True)
    _copy_tokens(fresh, connection)
    return connection


@sensitive_variables("token")
def connection_test(*, connection: Connection, actor: User | None, source: str) -> Connection:
    """Call GET /me and record Online with the company, or Offline with the reason in words."""
    company = None
    try:
        with ratelimit.budget_scope(ratelimit.budget_key(connection)):
            token = connection_access_token(connection=connection)
            try:
                company = front.me(token=token)
            except front.FrontError as exc:
                if exc.kind != "unauthorized" or not connection.is_oauth:
                    raise
                # Front answers 401 to an access token it expired early: refresh, then retry.
                connection_refresh(connection=connection, actor=actor, source=source)
                company = front.me(token=str(connection.access_token))
    except front.FrontError as exc:
        result = str(exc)
    else:
        result = f"Online: Front company {company.name}."
        if connection.is_oauth and connection.front_company_id not in ("", company.id):
            result = (
                f"The token belongs to Front company \u201c{company.name}\u201d, not to the one "
                "recorded for this connection: authorize it again."
            )
            company = None
    connection.refresh_from_db(fields=["status"])
    if company is not None:
        connection.status = Status.ONLINE
        connection.front_company_id, connection.front_company_name = company.id, company.name
    elif not connection.is_oauth or connection.access_token or connection.refresh_token:
        if connection.status != Status.REAUTHORIZE:
            connection.status = Status.OFFLINE
    else:
        connection.status = Status.NOT_AUTHORIZED
    connection.last_checked_at = timezone.now()
    connection.last_check_result = result[:500]
    with transaction.atomic():
        connection.save(
            update_fields=[
                "status",
                "front_company_id",
                "front_company_name",
                "last_checked_at",
                "last_check_result",
                "updated_at",
            ]
        )
        event_record(
            connection=connection,
            action=Action.TESTED,
            source=source,
            actor=actor,
            success=company is not None,
            message=result,
        )
    return connection


def connection_disconnect(*, connection: Connection, actor: User | None, source: str) -> Connection:
    """Forget the OAuth 2.0 tokens: the connection is Not authorized until authorized again."""
    with transaction.atomic():
        connection.access_token = ""
        connection.refresh_token = ""
        connection.access_token_expires_at = None
        connection.status = Status.NOT_AUTHORIZED
        connection.last_check_result = "Disconnected: the OAuth 2.0 tokens were deleted."
        connection.save(
            update_fields=[
                "access_token",
                "refresh_token",
                "access_token_expires_at",
                "status",
                "last_check_result",
                "updated_at",
            ]
        )
        event_record(connection=connection, action=Action.DISCONNECTED, source=source, actor=actor)
    return connection
