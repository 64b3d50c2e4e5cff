"""Authorization links: a single-use URL that lets a Front admin without an account authorize.

A link is made by someone who may change the connection (``access.user_may_change``), through
its page or the API, and is bound to the connection, its credential version when made, and the
Front company it had then. Only the SHA-256 of its secret is stored. Pressing "Authorize with
Front" spends the link (a conditional UPDATE, so two tabs cannot both start) and starts the one
OAuth flow of ``connections.authorization``, with the link, not a signed-in person, as its
binding; the callback records the result on the link (``link_finish``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_variables

from connections import access, lifecycle
from connections.authorization import (
    AuthorizationError,
    authorization_client,
    authorization_pending_open,
)
from connections.events import event_record
from connections.models import (
    Action,
    AuthorizationLink,
    Connection,
    LinkResult,
    Source,
    Status,
)
from connections.upkeep import LAPSE_WARNING, grant_lapses_at
from connections.wording import Said, said

RATE_WINDOW = timedelta(hours=1)
# How long a link stays usable, offered on the pages (hours), capped by the setting.
HOURS_CHOICES = (1, 24, 72)


@dataclass(frozen=True)
class NewLink:
    """A link just made: ``url`` (which holds the secret) exists only here, to be shown once."""

    link: AuthorizationLink
    url: str

    def __repr__(self) -> str:
        return f"<NewLink {self.link.pk}>"


def link_hours_max() -> int:
    """How many hours a link may stay usable at most (FRONTCONNECT_AUTHORIZATION_LINK_HOURS)."""
    return int(settings.FRONTCONNECT_AUTHORIZATION_LINK_HOURS)


def links_per_hour() -> int:
    """How many links one person, or one API key, may make per hour."""
    return int(settings.FRONTCONNECT_AUTHORIZATION_LINKS_PER_HOUR)


def link_hours_choices() -> list[int]:
    """The lifetimes the pages offer, in hours: the usual ones within the maximum, and it."""
    top = link_hours_max()
    return sorted({hours for hours in HOURS_CHOICES if hours < top} | {top})


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def link_url(secret: str) -> str:
    """The address a recipient opens: the site's base URL and the link's secret."""
    return settings.FRONTCONNECT_BASE_URL + reverse("links:open", args=[secret])


def connection_may_get_link(connection: Connection) -> bool:
    """Whether the connection is one a link can authorize (OAuth 2.0 with a client)."""
    return connection.is_oauth and connection.oauth_client_id is not None


def connection_needs_reauthorization(connection: Connection) -> bool:
    """Needs reauthorization, or its grant lapses within the warning window (14 days)."""
    if connection.status == Status.REAUTHORIZE:
        return True
    lapses = grant_lapses_at(connection) if connection.is_oauth else None
    return lapses is not None and lapses <= timezone.now() + LAPSE_WARNING


class LinkRateLimited(ValidationError):
    """Too many links made in the last hour by this person or key; the text says so."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, code="rate_limited")
        self.retry_after = retry_after


def _rate_check(*, user: User, api_key_id: int | None) -> None:
    """LinkRateLimited when this person (or this key) made the most links allowed this hour."""
    now = timezone.now()
    made = AuthorizationLink.objects.filter(created_at__gt=now - RATE_WINDOW)
    if api_key_id is not None:
        made, who = made.filter(api_key_id=api_key_id), "This API key"
    else:
        made, who = made.filter(created_by=user, api_key_id__isnull=True), "You"
    limit = links_per_hour()
    recent = list(made.order_by("-created_at").values_list("created_at", flat=True)[:limit])
    if len(recent) < limit:
        return
    # Room comes back when the oldest of the last ``limit`` links leaves the window.
    retry_after = max(1, int((recent[-1] + RATE_WINDOW - now).total_seconds()) + 1)
    raise LinkRateLimited(
        f"{who} made {limit} authorization links in the last hour, the most allowed; try "
        f"again in {retry_after // 60 + 1} minutes. No link was made.",
        retry_after=retry_after,
    )


@sensitive_variables("secret")
def authorization_link_create(
    *,
    connection: Connection,
    created_by: User,
    source: str,
    expires_in: timedelta | None = None,
    note: str = "",
    emailed_to: str = "",
    return_url: str = "",
    api_key_id: int | None = None,
    api_key_name: str = "",
) -> NewLink:
    """Make a single-use link for ``connection``; ValidationError (in words) when refused.

    ``created_by`` must be allowed to change the connection; with an API key, its id counts
    against the key's hourly limit instead of the person's.
    """
    authorization_client(connection)
    if not access.user_may_change(created_by, connection):
        raise AuthorizationError(said("link.not_yours"))
    most = timedelta(hours=link_hours_max())
    lifetime = expires_in if expires_in is not None else most
    if lifetime <= timedelta(0) or lifetime > most:
        raise ValidationError(
            ngettext(
                "A link lasts more than 0 seconds and at most %(hours)d hour "
                "(%(seconds)d seconds).",
                "A link lasts more than 0 seconds and at most %(hours)d hours "
                "(%(seconds)d seconds).",
                link_hours_max(),
            )
            % {"hours": link_hours_max(), "seconds": int(most.total_seconds())},
            code="expires_in",
        )
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        # The maker's row is the lock: concurrent requests cannot each see room for one more.
        list(
            get_user_model().objects.select_for_update().filter(pk=created_by.pk).values_list("pk")
        )
        _rate_check(user=created_by, api_key_id=api_key_id)
        bound = (
            Connection.objects.filter(pk=connection.pk)
            .values("credential_version", "front_company_id", "front_company_name")
            .get()
        )
        now = timezone.now()
        link = AuthorizationLink.objects.create(
            secret_hash=_digest(secret),
            connection=connection,
            credential_version=bound["credential_version"],
            front_company_id=bound["front_company_id"],
            front_company_name=bound["front_company_name"],
            created_by=created_by,
            requester_name=requester_name(created_by),
            api_key_id=api_key_id,
            api_key_name=api_key_name[:100],
            source=source,
            note=note[:500],
            emailed_to=emailed_to,
            return_url=return_url,
            created_at=now,
            expires_at=now + lifetime,
        )
        event_record(
            connection=connection,
            action=Action.LINK,
            source=source,
            actor=created_by,
            message=said(
                "link.made_emailed", link=link.pk, until_at=link.expires_at, email=emailed_to
            )
            if emailed_to
            else said("link.made", link=link.pk, until_at=link.expires_at),
        )
        lifecycle.lifecycle_emit(
            lifecycle.LINK_CREATED, connection, authorization_link=link_data(link)
        )
    return NewLink(link=link, url=link_url(secret))


def requester_name(user: User) -> str:
    """How a link names the person asking: full name and username, or the username."""
    full = user.get_full_name().strip()
    return f"{full} ({user.get_username()})" if full else user.get_username()


def link_data(link: AuthorizationLink) -> dict[str, object]:
    """How webhooks name a link: id, who asked, when it expires; never its secret or note."""
    return {
        "id": link.pk,
        "requested_by": link.requester_name,
        "created_at": link.created_at.isoformat(),
        "expires_at": link.expires_at.isoformat(),
        "made_with": "api" if link.source == Source.API else "page",
    }


def links_open_for(connection: Connection) -> QuerySet[AuthorizationLink]:
    """The connection's links that can still be used, soonest to expire first."""
    return AuthorizationLink.objects.filter(
        connection=connection,
        used_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).order_by("expires_at", "pk")


def authorization_link_revoke(*, link: AuthorizationLink, actor: User, source: str) -> bool:
    """Revoke an unused link for good; False when it was used, revoked or expired already."""
    now = timezone.now()
    with transaction.atomic():
        revoked = AuthorizationLink.objects.filter(
            pk=link.pk, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).update(revoked_at=now, revoked_by=actor)
        if revoked:
            event_record(
                connection=link.connection,
                action=Action.LINK,
                source=source,
                actor=actor,
                message=said("link.revoked", link=link.pk),
            )
    return bool(revoked)


@sensitive_variables("secret")
def link_by_secret(secret: str) -> AuthorizationLink | None:
    """The link whose secret this is, or None."""
    if not secret or len(secret) > 100:
        return None
    return (
        AuthorizationLink.objects.select_related("connection", "connection__oauth_client")
        .filter(secret_hash=_digest(secret))
        .first()
    )


def link_refusal(link: AuthorizationLink) -> Said:
    """Why this link cannot be used now (an empty, false ``Said`` when it can)."""
    if link.revoked_at is not None:
        return said("link.was_revoked")
    if link.used_at is not None:
        return said("link.was_used", used_at=link.used_at)
    if link.expires_at <= timezone.now():
        return said("link.expired", expires_at=link.expires_at)
    connection = link.connection
    if (
        not connection_may_get_link(connection)
        or connection.credential_version != link.credential_version
    ):
        return said("link.sign_in_changed")
    if link.created_by is None or not access.user_may_change(link.created_by, connection):
        return said("link.maker_left")
    return Said()


def scopes_in_words(connection: Connection) -> list[str]:
    """The connection's scopes as sentences (their descriptions), else their codes."""
    return [scope.description or scope.code for scope in connection.scopes.order_by("code")]


@sensitive_variables("secret")
def link_authorize_start(*, secret: str, session: SessionBase) -> str:
    """Spend the link and start Front's sign-in for it; return Front's URL.

    AuthorizationError (in words) when the link cannot be used; nothing is changed then.
    """
    link = link_by_secret(secret)
    if link is None:
        raise AuthorizationError(said("link.unknown"))
    refusal = link_refusal(link)
    if refusal:
        raise AuthorizationError(refusal)
    connection = link.connection
    client = authorization_client(connection)
    now = timezone.now()
    with transaction.atomic():
        spent = AuthorizationLink.objects.filter(
            Q(expires_at__gt=now),
            pk=link.pk,
            used_at__isnull=True,
            revoked_at__isnull=True,
        ).update(used_at=now)
        if spent != 1:
            raise AuthorizationError(said("link.just_spent"))
        version = (
            Connection.objects.select_for_update()
            .filter(pk=connection.pk)
            .values_list("credential_version", flat=True)
            .get()
        )
        if version != link.credential_version:
            raise AuthorizationError(link_refusal_changed())
        return authorization_pending_open(
            connection=connection,
            client=client,
            session=session,
            return_url=reverse("links:result"),
            source=Source.LINK,
            version=version,
            link=link,
        )


def link_refusal_changed() -> Said:
    return said("link.changed_meanwhile")


def link_finish(
    *, link_id: int, result: LinkResult | str, reason: Said | str = ""
) -> AuthorizationLink:
    """Record how the flow a link started ended (once), and announce the link as used."""
    now = timezone.now()
    with transaction.atomic():
        first = AuthorizationLink.objects.filter(pk=link_id, finished_at__isnull=True).update(
            result=result, result_reason=Said.of(reason), finished_at=now
        )
        link = AuthorizationLink.objects.select_related("connection").get(pk=link_id)
        if first:
            lifecycle.lifecycle_emit(
                lifecycle.LINK_USED,
                link.connection,
                authorization_link=link_data(link),
                result=link.result,
                reason=link.result_reason,
            )
    return link


def link_return_url(link: AuthorizationLink) -> str:
    """Where the browser goes after the flow: the service's return_url with the result added."""
    parts = urlsplit(link.return_url)
    extra = urlencode({"connection": link.connection_id, "result": link.result})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def links_expired_announce() -> int:
    """Announce the links that expired unused (webhook ``...expired``), once each; how many."""
    now = timezone.now()
    due = AuthorizationLink.objects.filter(
        expires_at__lte=now,
        used_at__isnull=True,
        revoked_at__isnull=True,
        expiry_announced_at__isnull=True,
    ).select_related("connection")
    announced = 0
    for link in due.iterator(chunk_size=500):
        with transaction.atomic():
            claimed = AuthorizationLink.objects.filter(
                pk=link.pk, expiry_announced_at__isnull=True
            ).update(expiry_announced_at=now)
            if claimed:
                lifecycle.lifecycle_emit(
                    lifecycle.LINK_EXPIRED, link.connection, authorization_link=link_data(link)
                )
                announced += 1
    return announced
