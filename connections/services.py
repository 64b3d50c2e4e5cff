"""Every flow that writes connections or calls out to Front."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_variables

from connections import front
from connections.models import (
    Action,
    Connection,
    Event,
    PendingAuthorization,
    Scope,
    Source,
    Status,
)
from oauthclients.services import oauth_redirect_uri


def event_record(
    *,
    connection: Connection,
    action: str,
    source: str,
    actor: AbstractBaseUser | None = None,
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
    actor: AbstractBaseUser | None,
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


def connection_delete(
    *, connection: Connection, actor: AbstractBaseUser | None, source: str
) -> None:
    """Delete a connection, keeping a 'deleted' entry in the history."""
    with transaction.atomic():
        event_record(connection=connection, action=Action.DELETED, source=source, actor=actor)
        connection.delete()


class AuthorizationError(ValidationError):
    """An OAuth 2.0 authorization could not be started or completed; the text is safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="authorization")

    def __str__(self) -> str:
        return self.messages[0]


STATE_LIFETIME = timedelta(minutes=10)
REFRESH_MARGIN = timedelta(minutes=5)
NOT_AUTHORIZED_YET = "Not authorized yet: use Save and authorize to sign in to Front."
REAUTHORIZE_NEEDED = (
    "Front no longer accepts this connection's authorization: use Save and authorize again."
)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def connection_user_may_change(*, user: AbstractBaseUser, connection: Connection) -> bool:
    """Whether a user may change a connection: its owner, or an operator with change permission."""
    if not user.is_authenticated or not user.is_active:
        return False
    if connection.owner_id == user.pk:
        return True
    return bool(user.is_staff and user.has_perm("connections.change_connection"))


@sensitive_variables("state", "verifier")
def connection_authorize_start(
    *,
    connection: Connection,
    user: AbstractBaseUser,
    session: SessionBase,
    return_url: str,
    source: str,
) -> str:
    """Record a pending authorization bound to user, session and client; return Front's URL."""
    client = connection.oauth_client
    if not connection.is_oauth or client is None:
        raise AuthorizationError("Only OAuth 2.0 connections with a client can be authorized.")
    if not client.client_secret:
        raise AuthorizationError(
            f"The OAuth 2.0 client \u201c{client.name}\u201d has no readable client secret: "
            "enter it again on the client's page."
        )
    if not return_url.startswith("/") or not url_has_allowed_host_and_scheme(
        return_url, allowed_hosts=set()
    ):
        raise AuthorizationError("The page to return to after Front is not on this site.")
    if not session.session_key:
        session.save()
    state = secrets.token_urlsafe(32)
    verifier = front.code_verifier_new() if settings.FRONT_OAUTH_PKCE else ""
    redirect_uri = oauth_redirect_uri()
    PendingAuthorization.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).delete()
    PendingAuthorization.objects.create(
        state_hash=_digest(state),
        user=user,
        session_key_hash=_digest(session.session_key or ""),
        connection=connection,
        oauth_client=client,
        redirect_uri=redirect_uri,
        code_verifier=verifier,
        return_url=return_url,
        source=source,
    )
    return front.authorize_url(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        state=state,
        scopes=[scope.code for scope in connection.scopes.order_by("code")],
        challenge=front.code_challenge(verifier) if verifier else None,
    )


def pending_authorization_return_url(
    *, state: str, request_user: AbstractBaseUser, session: SessionBase
) -> str | None:
    """The page a flow started from, when that flow belongs to this user and session."""
    if not state or not request_user.is_authenticated or not session.session_key:
        return None
    pending = PendingAuthorization.objects.filter(
        state_hash=_digest(state),
        user_id=request_user.pk,
        session_key_hash=_digest(session.session_key),
    ).first()
    if pending is None or not url_has_allowed_host_and_scheme(
        pending.return_url, allowed_hosts=set()
    ):
        return None
    return pending.return_url


@sensitive_variables("state")
def _pending_consume(
    *, request_user: AbstractBaseUser, session: SessionBase, state: str
) -> PendingAuthorization:
    """Check a callback's state and mark it used, atomically; refuse anything doubtful."""
    start_again = "Start again with Save and authorize."
    if not state:
        raise AuthorizationError(
            "Front's reply carries no state, so it cannot be matched to an authorization "
            f"started here. Nothing was changed. {start_again}"
        )
    with transaction.atomic():
        pending = (
            PendingAuthorization.objects.select_for_update()
            .select_related("connection", "oauth_client")
            .filter(state_hash=_digest(state))
            .first()
        )
        if pending is None:
            raise AuthorizationError(
                f"This authorization reply is unknown here. Nothing was changed. {start_again}"
            )
        if pending.user_id != request_user.pk or pending.session_key_hash != _digest(
            session.session_key or ""
        ):
            raise AuthorizationError(
                "This authorization was started by another user or in another browser session, "
                f"so it was refused. Nothing was changed. {start_again}"
            )
        if pending.used_at is not None:
            raise AuthorizationError(
                f"This authorization reply was already used. Nothing was changed. {start_again}"
            )
        if timezone.now() - pending.created_at > STATE_LIFETIME:
            raise AuthorizationError(
                "This authorization took longer than 10 minutes and has expired. Nothing was "
                f"changed. {start_again}"
            )
        if not connection_user_may_change(user=request_user, connection=pending.connection):
            raise AuthorizationError("You may no longer change this connection.")
        updated = PendingAuthorization.objects.filter(pk=pending.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        if updated != 1:
            raise AuthorizationError(
                f"This authorization reply was already used. Nothing was changed. {start_again}"
            )
    return pending


def connection_authorize_cancel(
    *, request_user: AbstractBaseUser, session: SessionBase, state: str, error: str
) -> str:
    """Close a flow that Front ended with an ``error=``; return the page to go back to."""
    pending = _pending_consume(request_user=request_user, session=session, state=state)
    event_record(
        connection=pending.connection,
        action=Action.AUTHORIZED,
        source=pending.source,
        actor=request_user,
        success=False,
        message=f"Front did not authorize ({error[:40] or 'no reason given'}).",
    )
    return pending.return_url


@sensitive_variables("state", "code", "tokens", "secret")
def connection_authorize_complete(
    *,
    request_user: AbstractBaseUser,
    session: SessionBase,
    state: str,
    code: str,
    issuer: str | None = None,
) -> Connection:
    """Finish Save and authorize: check the state, redeem the code, record the Front company."""
    pending = _pending_consume(request_user=request_user, session=session, state=state)
    connection, client = pending.connection, pending.oauth_client
    if issuer is not None and issuer != front.issuer():
        raise AuthorizationError("The reply did not come from Front's sign-in page; refused.")
    if not code:
        raise AuthorizationError("Front's reply carries no authorization code. Start again.")
    if not connection.is_oauth or connection.oauth_client_id != client.pk:
        raise AuthorizationError(
            "The connection's sign-in settings changed while you were in Front. Start again."
        )
    secret = client.client_secret
    try:
        tokens = front.exchange_code(
            client_id=client.client_id,
            client_secret=str(secret),
            code=code,
            redirect_uri=pending.redirect_uri,
            code_verifier=str(pending.code_verifier) or None,
        )
        company = front.me(token=tokens.access_token)
    except front.FrontError as exc:
        _authorize_failed(connection, pending, request_user, str(exc))
        raise AuthorizationError(f"The authorization did not complete: {exc}") from None
    if connection.front_company_id and connection.front_company_id != company.id:
        message = (
            f"You authorized Front company \u201c{company.name}\u201d, but this connection "
            f"belongs to \u201c{connection.front_company_name}\u201d; the connection keeps its "
            "previous authorization. Sign in to the right Front company, or create a new "
            "connection for this one."
        )
        _authorize_failed(connection, pending, request_user, message)
        raise AuthorizationError(message)
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        locked.access_token = tokens.access_token
        locked.refresh_token = tokens.refresh_token
        locked.access_token_expires_at = tokens.expires_at
        locked.authorized_at = locked.last_checked_at = timezone.now()
        locked.status = Status.ONLINE
        locked.front_company_id, locked.front_company_name = company.id, company.name
        locked.last_check_result = f"Online: authorized for Front company {company.name}."
        locked.save()
        event_record(
            connection=locked,
            action=Action.AUTHORIZED,
            source=pending.source,
            actor=request_user,
            message=f"Authorized for Front company {company.name} ({company.id}).",
        )
    return locked


def _authorize_failed(
    connection: Connection, pending: PendingAuthorization, user: AbstractBaseUser, message: str
) -> None:
    event_record(
        connection=connection,
        action=Action.AUTHORIZED,
        source=pending.source,
        actor=user,
        success=False,
        message=message,
    )


@sensitive_variables("tokens", "secret")
def _refresh(
    *, connection: Connection, actor: AbstractBaseUser | None, source: str, force: bool
) -> Connection:
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
    *, connection: Connection, actor: AbstractBaseUser | None = None, source: str
) -> Connection:
    """Refresh now, unless another process refreshed this connection since it was read."""
    if not connection.is_oauth:
        raise front.FrontError("Only OAuth 2.0 connections have tokens to refresh.")
    fresh = _refresh(connection=connection, actor=actor, source=source, force=True)
    _copy_tokens(fresh, connection)
    return connection


@sensitive_variables("token")
def connection_test(
    *, connection: Connection, actor: AbstractBaseUser | None, source: str
) -> Connection:
    """Call GET /me and record Online with the company, or Offline with the reason in words."""
    company = None
    try:
        token = connection_access_token(connection=connection)
        try:
            company = front.me(token=token)
        except front.FrontError as exc:
            if exc.kind != "unauthorized" or not connection.is_oauth:
                raise
            # Front answers 401 to an access token it expired early: refresh once, then retry.
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


def connection_disconnect(
    *, connection: Connection, actor: AbstractBaseUser | None, source: str
) -> Connection:
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
