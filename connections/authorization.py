"""Save and authorize: the OAuth 2.0 authorization flow, from Front's URL to stored tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import NoReturn

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_variables

from common.oauth import base_origin, oauth_redirect_uri, origin_differs
from connections import access, front, lifecycle, ratelimit
from connections.events import event_record
from connections.models import (
    Action,
    AuthorizationLink,
    Connection,
    PendingAuthorization,
    Source,
    Status,
)
from connections.status import connection_status_set, verdict_superseded
from connections.tokens import token_digest
from connections.wording import Said, said
from oauthclients.models import OAuthClient


class AuthorizationError(ValidationError):
    """An OAuth 2.0 authorization could not be started or completed; the text is safe to show."""

    def __init__(self, message: Said) -> None:
        # The sentence is kept as a code too: an authorization link records it as its result.
        self.said = message
        super().__init__(str(message), code="authorization")

    def __str__(self) -> str:
        return str(self.said)


STATE_LIFETIME = timedelta(minutes=10)
# Open (unfinished) authorizations kept per user: starting one more replaces the oldest, so
# repeated Authorize clicks never pile up rows (only the latest few tabs can still finish).
MAX_OPEN_PER_USER = 5


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def authorization_client(connection: Connection) -> OAuthClient:
    """The client an authorization of ``connection`` would use; AuthorizationError if none fits."""
    client = connection.oauth_client
    if not connection.is_oauth or client is None:
        raise AuthorizationError(said("authorize.no_client"))
    if not client.client_secret:
        raise AuthorizationError(said("authorize.client_unreadable", client=client.name))
    return client


def connection_authorize_start(
    *,
    connection: Connection,
    user: User,
    session: SessionBase,
    return_url: str,
    source: str,
    started_at: str = "",
) -> str:
    """Record a pending authorization bound to user, session and client; return Front's URL.

    ``started_at`` is the scheme and host of the page it started from (see ``_pending_consume``).
    """
    client = authorization_client(connection)
    if not return_url.startswith("/") or not url_has_allowed_host_and_scheme(
        return_url, allowed_hosts=set()
    ):
        raise AuthorizationError(said("authorize.return_elsewhere"))
    # The sign-in as it is now: a callback after any change of it is refused.
    version = (
        Connection.objects.filter(pk=connection.pk)
        .values_list("credential_version", flat=True)
        .get()
    )
    with transaction.atomic():
        # One start at a time per user (the user's row is the lock), so concurrent clicks
        # cannot each see room for one more.
        list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
        opened = PendingAuthorization.objects.filter(user=user, used_at__isnull=True)
        newest_first = opened.order_by("-created_at", "-pk").values_list("pk", flat=True)
        beyond = list(newest_first[MAX_OPEN_PER_USER - 1 :])
        PendingAuthorization.objects.filter(pk__in=beyond).delete()
        return authorization_pending_open(
            connection=connection,
            client=client,
            session=session,
            return_url=return_url,
            source=source,
            version=version,
            user=user,
            started_at=started_at[:300],
        )


@sensitive_variables("state", "verifier")
def authorization_pending_open(
    *,
    connection: Connection,
    client: OAuthClient,
    session: SessionBase,
    return_url: str,
    source: str,
    version: int,
    user: User | None = None,
    link: AuthorizationLink | None = None,
    started_at: str = "",
) -> str:
    """Store the state (hashed), PKCE verifier and bindings of one flow; return Front's URL.

    The one place a flow starts, from a signed-in person (``user``) or from an authorization
    link (``link``); the callback finishes both the same way.
    """
    if not session.session_key:
        session.save()
    state = secrets.token_urlsafe(32)
    verifier = front.code_verifier_new() if settings.FRONT_OAUTH_PKCE else ""
    redirect_uri = oauth_redirect_uri()
    PendingAuthorization.objects.filter(created_at__lt=timezone.now() - timedelta(days=1)).delete()
    PendingAuthorization.objects.create(
        credential_version=version,
        state_hash=_digest(state),
        user=user,
        link=link,
        session_key_hash=_digest(session.session_key or ""),
        connection=connection,
        oauth_client=client,
        redirect_uri=redirect_uri,
        code_verifier=verifier,
        return_url=return_url,
        source=source,
        started_at=started_at,
    )
    return front.authorize_url(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        state=state,
        scopes=[scope.code for scope in connection.scopes.order_by("code")],
        challenge=front.code_challenge(verifier) if verifier else None,
    )


def pending_link_id(*, state: str, session: SessionBase) -> int | None:
    """The authorization link a flow was started from, when it was started in this session."""
    if not state or not session.session_key:
        return None
    return (
        PendingAuthorization.objects.filter(
            state_hash=_digest(state),
            session_key_hash=_digest(session.session_key),
            link__isnull=False,
        )
        .values_list("link_id", flat=True)
        .first()
    )


def pending_authorization_return_url(
    *, state: str, request_user: User | AnonymousUser, session: SessionBase
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
    *, request_user: User | AnonymousUser, session: SessionBase, state: str
) -> PendingAuthorization:
    """Check a callback's state and mark it used, atomically; refuse anything doubtful."""
    again = said("authorize.again_form")
    if not state:
        raise AuthorizationError(said("authorize.no_state", again=again))
    with transaction.atomic():
        pending = (
            # Only this row: PostgreSQL cannot lock the outer-joined (nullable) link.
            PendingAuthorization.objects.select_for_update(of=("self",))
            .select_related("connection", "oauth_client", "link__created_by")
            .filter(state_hash=_digest(state))
            .first()
        )
        if pending is None:
            raise AuthorizationError(said("authorize.unknown", again=again))
        if pending.link_id is not None:
            again = said("authorize.again_link")
        mine = pending.user_id == request_user.pk or pending.link_id is not None
        if not mine or pending.session_key_hash != _digest(session.session_key or ""):
            if origin_differs(pending.started_at):
                # Not another person: the same one, whose browser keeps a session per host.
                raise AuthorizationError(
                    said("authorize.other_host", started=pending.started_at, base=base_origin())
                )
            raise AuthorizationError(said("authorize.other_session", again=again))
        if pending.used_at is not None:
            raise AuthorizationError(said("authorize.used", again=again))
        if timezone.now() - pending.created_at > STATE_LIFETIME:
            raise AuthorizationError(said("authorize.expired", again=again))
        # A link acts for the person who made it: it works while they may still change it.
        acting = pending.link.created_by if pending.link is not None else request_user
        if not access.user_may_change(acting, pending.connection):
            raise AuthorizationError(
                said("authorize.no_longer_yours")
                if pending.link is None
                else said("authorize.link_maker_left")
            )
        updated = PendingAuthorization.objects.filter(pk=pending.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        if updated != 1:
            raise AuthorizationError(said("authorize.used", again=again))
    return pending


def connection_authorize_cancel(
    *, request_user: User | AnonymousUser, session: SessionBase, state: str, error: str
) -> str:
    """Close a flow that Front ended with an ``error=``; return the page to go back to."""
    pending = _pending_consume(request_user=request_user, session=session, state=state)
    event_record(
        connection=pending.connection,
        action=Action.AUTHORIZED,
        source=pending.source,
        actor=request_user,
        success=False,
        message=said("authorize.refused", error=error[:40])
        if error
        else said("authorize.refused_silently"),
    )
    return pending.return_url


@sensitive_variables("state", "code", "tokens", "secret")
def connection_authorize_complete(
    *,
    request_user: User | AnonymousUser,
    session: SessionBase,
    state: str,
    code: str,
    issuer: str | None = None,
) -> Connection:
    """Finish Save and authorize: check the state, redeem the code, record the Front company."""
    pending = _pending_consume(request_user=request_user, session=session, state=state)
    connection, client = pending.connection, pending.oauth_client
    if issuer is not None and issuer != front.issuer():
        raise AuthorizationError(said("authorize.not_from_front"))
    if not code:
        raise AuthorizationError(said("authorize.no_code"))
    if _changed_since(connection, pending):
        _authorize_superseded(connection, pending, request_user)
    secret = client.client_secret
    try:
        tokens = front.exchange_code(
            client_id=client.client_id,
            client_secret=str(secret),
            code=code,
            redirect_uri=pending.redirect_uri,
            code_verifier=str(pending.code_verifier) or None,
        )
        company = front.me(
            token=tokens.access_token,
            budget_key=ratelimit.budget_key(connection),
        )
    except front.FrontError as exc:
        _authorize_failed(connection, pending, request_user, exc.message)
        raise AuthorizationError(said("authorize.incomplete", error=exc.message)) from None
    bound_id, bound_name = connection.front_company_id, connection.front_company_name
    if pending.link is not None and pending.link.front_company_id:
        bound_id, bound_name = pending.link.front_company_id, pending.link.front_company_name
    if (bound_id and bound_id != company.id) or (
        connection.front_company_id and connection.front_company_id != company.id
    ):
        message = said("authorize.wrong_company", company=company.name, bound=bound_name)
        _authorize_failed(connection, pending, request_user, message)
        raise AuthorizationError(message)
    result = said("authorize.online", company=company.name)
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        # Stored only for the sign-in the flow started from: not if, while the code was being
        # redeemed, the connection was switched to a token, given another client, authorized
        # again or disconnected.
        superseded = _changed_since(locked, pending)
        if not superseded:
            _grant_store(locked, tokens, company, result, pending, request_user)
    if superseded:
        _authorize_superseded(connection, pending, request_user)
    return locked


@sensitive_variables("tokens")
def _grant_store(
    locked: Connection,
    tokens: front.TokenResponse,
    company: front.Company,
    result: Said,
    pending: PendingAuthorization,
    request_user: User | AnonymousUser,
) -> None:
    """Write a new grant on the locked row: a new sign-in, so a new credential version."""
    version = locked.credential_change()
    locked.access_token = tokens.access_token
    locked.refresh_token = tokens.refresh_token
    locked.refresh_token_digest = token_digest(tokens.refresh_token)
    # A refresh still in flight for the old grant must not overwrite the new one.
    locked.refresh_lease_id, locked.refresh_lease_until = "", None
    locked.access_token_expires_at = tokens.expires_at
    locked.authorized_at = locked.last_checked_at = timezone.now()
    locked.unreachable_since = locked.refresh_interrupted_at = None
    locked.front_company_id, locked.front_company_name = company.id, company.name
    locked.last_check_result = result
    locked.save(
        update_fields=[
            *version,
            "access_token",
            "refresh_token",
            "refresh_token_digest",
            "refresh_lease_id",
            "refresh_lease_until",
            "access_token_expires_at",
            "authorized_at",
            "last_checked_at",
            "unreachable_since",
            "refresh_interrupted_at",
            "front_company_id",
            "front_company_name",
            "last_check_result",
            "updated_at",
        ]
    )
    connection_status_set(
        connection=locked,
        status=Status.ONLINE,
        reason=result,
        source=pending.source,
        actor=request_user,
        version=locked.credential_version,
    )
    link = pending.link
    event_record(
        connection=locked,
        action=Action.AUTHORIZED,
        source=pending.source,
        actor=request_user,
        message=said(
            "authorize.done_by_link",
            company=company.name,
            company_id=company.id,
            requester=link.requester_name,
        )
        if link
        else said("authorize.done", company=company.name, company_id=company.id),
    )
    lifecycle.lifecycle_emit(
        lifecycle.AUTHORIZED,
        locked,
        how=authorized_how(pending),
        front_company={"id": company.id, "name": company.name},
        authorization_link_id=link.pk if link else None,
    )


def authorized_how(pending: PendingAuthorization) -> str:
    """How a connection was authorized, for webhooks: "form", "link", or "api" (a key's link)."""
    if pending.link is None:
        return "form"
    return "api" if pending.link.source == Source.API else "link"


CHANGED_IN_FRONT = said("authorize.changed_in_front")


def _changed_since(connection: Connection, pending: PendingAuthorization) -> bool:
    """Whether the connection's sign-in is no longer the one this flow started from."""
    return (
        not connection.is_oauth
        or connection.oauth_client_id != pending.oauth_client_id
        or connection.credential_version != pending.credential_version
    )


def _authorize_superseded(
    connection: Connection, pending: PendingAuthorization, user: User | AnonymousUser
) -> NoReturn:
    verdict_superseded(
        connection=connection,
        verdict=said("verdict.authorization_not_stored"),
        source=pending.source,
        actor=user,
    )
    raise AuthorizationError(CHANGED_IN_FRONT)


def _authorize_failed(
    connection: Connection, pending: PendingAuthorization, user: User | AnonymousUser, message: Said
) -> None:
    event_record(
        connection=connection,
        action=Action.AUTHORIZED,
        source=pending.source,
        actor=user,
        success=False,
        message=message,
    )
