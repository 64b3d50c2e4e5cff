"""API keys: create, recognise, revoke, and count what they are used for."""

from __future__ import annotations

import atexit
import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db import connections as db_connections
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from api.models import KEY_PREFIX, ApiKey, ApiKeyUsage, KeyScope, Permission, url_origin
from common.statements import CompiledQuery, Mark
from connections import access
from connections.access import connection_in_reach, connections_for_key, key_reaches_owner
from connections.models import Connection

logger = logging.getLogger(__name__)

PUBLIC_ID_LENGTH = 12
# fc_live_ + 12 hex characters + _ + 43 base64url characters (32 random bytes).
KEY_PATTERN = re.compile(rf"^{KEY_PREFIX}([0-9a-f]{{{PUBLIC_ID_LENGTH}}})_[A-Za-z0-9_-]{{43}}$")
# Writing "last used" on every call would turn each read into a write; once a minute is enough
# to answer "is this key still in use, and from where?".
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewKey:
    """A key just created: ``plaintext`` exists only here, to be shown once."""

    key: ApiKey
    plaintext: str

    def __repr__(self) -> str:
        return f"<NewKey {self.key.prefix}>"


# A key with any of these acts on connections (hands out or uses their token, or writes them), so
# whoever holds it must be allowed to change what it reaches; "read" needs only seeing them.
CHANGING_PERMISSIONS: frozenset[str] = frozenset(
    {
        Permission.TOKEN.value,
        Permission.PROXY.value,
        Permission.WRITE.value,
        Permission.AUTHORIZE.value,
    }
)

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
ORIGINS_MAX = 20


def return_origins_parse(text: str) -> list[str]:
    """The return origins typed one a line, normalised; ValidationError naming a bad line.

    Each is a scheme, host and optional port, nothing more; https, or http on loopback only
    (a local development receiver).
    """
    origins: list[str] = []
    for line in text.splitlines():
        typed = line.strip().rstrip("/")
        if not typed:
            continue
        origin = url_origin(typed)
        parts = urlsplit(typed)
        if not origin or parts.path or parts.query or parts.fragment:
            raise ValidationError(
                gettext(
                    "“%(origin)s” is not an origin: enter a scheme and host (and port), "
                    "such as https://app.example.com, without a path."
                )
                % {"origin": typed[:100]},
                code="return_origin_invalid",
            )
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise ValidationError(
                gettext(
                    "“%(origin)s” is not https: only a loopback address (localhost, "
                    "127.0.0.1) may use http."
                )
                % {"origin": typed[:100]},
                code="return_origin_insecure",
            )
        if origin not in origins:
            origins.append(origin)
    if len(origins) > ORIGINS_MAX:
        raise ValidationError(
            ngettext(
                "Enter at most %(max)s return origin.",
                "Enter at most %(max)s return origins.",
                ORIGINS_MAX,
            )
            % {"max": ORIGINS_MAX},
            code="return_origins_too_many",
        )
    return origins


# The permission codes ('token', ...) are the API's own words: a translation keeps them.
OWNER_NOT_YOURS = _(
    "You may not make this user accountable for a key: choose yourself (only operators who may "
    "change users act for others)."
)
REACH_NOT_YOURS = _("This key would reach connections you may not see.")
CHANGE_NOT_YOURS = _(
    "'token', 'proxy', 'write' and 'authorize' need that you may change every connection the "
    "key reaches."
)
REACH_NOT_OWNERS = _("The owner may not see every connection this key would reach.")
CHANGE_NOT_OWNERS = _(
    "The owner may not change every connection this key would reach, which 'token', 'proxy', "
    "'write' and 'authorize' need."
)
TEAM_NOT_YOURS = _("Only the team's admins issue its API keys.")
TEAM_REQUIRED = _("Choose the team whose connections the key reaches.")
REACH_FIELD = {
    KeyScope.ALL: "scope",
    KeyScope.USERS: "users",
    KeyScope.CONNECTIONS: "connections",
    KeyScope.TEAM: "team",
}


def needs_change(permissions: Iterable[str]) -> bool:
    """Whether a key with these permissions acts on (not only reads) what it reaches."""
    return bool(CHANGING_PERMISSIONS & set(permissions))


def apikey_grant_refusals(
    *,
    issuer: User | AnonymousUser | None,
    owner: User | None,
    scope: str,
    permissions: Iterable[str],
    users: Iterable[User] = (),
    connections: Iterable[Connection] = (),
    team: Any = None,
) -> dict[str, list[str]]:
    """Why a key with this owner, reach and permissions may not be issued (empty: it may).

    A team's key (``scope`` team) has no owner: its issuer must administer the team, and it
    then works while its creator stays in the team (``access.team_key_in_force``).

    A key never grants more than the person issuing or changing it holds, nor more than its
    owner holds: its reach must be visible to both, and with 'token', 'proxy' or 'write'
    changeable by both. ``issuer=None`` is a trusted shell (``createapikey``): only the owner
    side is checked; ``owner=None`` (an owner the form refused) checks the issuer only. A
    user's own connections are always theirs to reach.
    """
    users, connections = list(users), list(connections)
    change = needs_change(permissions)
    field = REACH_FIELD.get(KeyScope(scope), "scope")
    refusals: dict[str, list[str]] = {}

    def refuse(name: str, message: Any) -> None:
        refusals.setdefault(name, []).append(str(message))

    def within(user: User | AnonymousUser, *, change: bool = False) -> bool:
        return access.reach_within_rights(
            user, scope=scope, users=users, connections=connections, team=team, change=change
        )

    if scope == KeyScope.TEAM:
        if team is None:
            refuse("team", TEAM_REQUIRED)
        elif issuer is not None and not within(issuer):
            refuse("team", TEAM_NOT_YOURS)
        return refusals

    if issuer is not None:
        if owner is not None and not access.user_may_act_for(issuer, owner):
            refuse("owner", OWNER_NOT_YOURS)
        if not within(issuer):
            refuse(field, REACH_NOT_YOURS)
        elif change and not within(issuer, change=True):
            refuse("permissions", CHANGE_NOT_YOURS)
    if owner is None:  # the form already refused the owner chosen
        return refusals
    if not within(owner):
        refuse(field, REACH_NOT_OWNERS)
    elif change and not within(owner, change=True):
        refuse("permissions", CHANGE_NOT_OWNERS)
    return refusals


def apikey_grant_check(**grant: Any) -> None:
    """``apikey_grant_refusals`` as a ValidationError naming the fields, or nothing."""
    refusals = apikey_grant_refusals(**grant)
    if refusals:
        raise ValidationError(refusals)


def key_actor(key: ApiKey) -> User:
    """Who is recorded as having acted with a key: the person who created it, else its owner
    (a team's key always records its creator).

    Events and transitions also name the key itself (``connections.events.acting_key``).
    """
    actor = key.created_by if key.created_by_id is not None else key.owner
    if actor is None:  # a team's key always records its creator; an owner's key has its owner
        raise ValueError(f"API key {key.pk} names neither a creator nor an owner.")
    return actor


def key_hash(plaintext: str) -> str:
    """SHA-256 of the whole key: enough for 256-bit random keys, and fast on every request."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def apikey_create(
    *,
    name: str,
    owner: User | None,
    permissions: Iterable[str],
    scope: str = KeyScope.USERS,
    users: Iterable[User] | None = None,
    connections: Iterable[Connection] = (),
    expires_at: datetime | None = None,
    created_by: User | None = None,
    key: ApiKey | None = None,
    team: Any = None,
) -> NewKey:
    """Create a key (or finish one an admin form prepared) and return it with its plaintext.

    Refused (ValidationError) when the key would grant more than ``created_by`` or ``owner``
    holds (``apikey_grant_refusals``); ``created_by=None`` is a trusted shell. A team's key
    (``team`` given) has no owner and reaches the team's connections; its ``created_by`` is
    whoever it works for (a trusted shell names one of the team's members).
    """
    if team is not None:
        scope, owner = KeyScope.TEAM, None
    elif owner is None:
        raise ValueError("A key needs an owner or a team.")
    permissions = sorted(set(permissions))
    unknown = set(permissions) - set(Permission.values)
    if unknown:
        raise ValueError(f"Unknown permission: {', '.join(sorted(unknown))}.")
    users = list(users) if users is not None else ([owner] if owner is not None else [])
    connections = list(connections)
    apikey_grant_check(
        issuer=created_by,
        owner=owner,
        scope=scope,
        permissions=permissions,
        users=users if scope == KeyScope.USERS else (),
        connections=connections if scope == KeyScope.CONNECTIONS else (),
        team=team,
    )
    public_id = secrets.token_hex(PUBLIC_ID_LENGTH // 2)
    plaintext = f"{KEY_PREFIX}{public_id}_{secrets.token_urlsafe(32)}"
    key = key if key is not None else ApiKey()
    key.name = name
    key.owner = owner
    key.team = team
    key.permissions = permissions
    key.scope = scope
    key.expires_at = expires_at
    key.created_by = created_by
    key.public_id = public_id
    key.key_hash = key_hash(plaintext)
    with transaction.atomic():
        key.save()
        if scope == KeyScope.USERS:
            key.users.set(users)
        elif scope == KeyScope.CONNECTIONS:
            key.connections.set(connections)
    return NewKey(key=key, plaintext=plaintext)


def _key_by_public_id(marks: Mapping[str, Any]) -> QuerySet[ApiKey]:
    """A usable key by its public id, with its owner and creator, whether it reaches beyond the
    owner's own connections, and the role its creator holds in its team."""
    return (
        ApiKey.objects.filter(Q(owner__is_active=True) | Q(scope=KeyScope.TEAM))
        .select_related("owner", "created_by")
        .annotate(
            beyond_owner=access.key_reach_beyond_owner(ApiKey),
            creator_role=access.team_key_creator_role(ApiKey),
        )
        .filter(public_id=marks["public_id"])
    )


# Every API request starts here: compiled once per process (``common.statements``).
_KEY_BY_PUBLIC_ID = CompiledQuery(_key_by_public_id, Mark("public_id", "\x00public id\x00"))


def apikey_authenticate(plaintext: str) -> ApiKey | None:
    """The active key that ``plaintext`` is, or None: one indexed lookup and one hash compare.

    The owner comes in the same statement, with whether the key reaches beyond the owner's own
    connections; such a key works only while its owner still holds the rights that reach needs
    (checked on every request, so a demotion stops it at once, like a deactivation). A team's
    key comes with its creator's role in the team: it works only while they are still in it.
    """
    match = KEY_PATTERN.match(plaintext)
    if match is None:
        return None
    key = _KEY_BY_PUBLIC_ID.first(public_id=match.group(1))
    if key is None:
        return None
    if not hmac.compare_digest(key.key_hash, key_hash(plaintext)):
        return None
    if not key.is_active():
        return None
    annotated: Any = key  # with _key_by_public_id's annotations
    if key.scope == KeyScope.TEAM:
        in_force = access.team_key_in_force(
            annotated.creator_role,
            change=Permission.WRITE.value in key.permissions,
        )
        return key if in_force else None
    if annotated.beyond_owner and not access.user_is_operator(
        key.owner, change=needs_change(key.permissions)
    ):
        return None
    return key


def apikey_touch(key: ApiKey, address: str | None) -> None:
    """Record when and from where the key was last used, at most once a minute."""
    now = timezone.now()
    cutoff = now - LAST_USED_RESOLUTION
    if key.last_used_at is not None and key.last_used_at > cutoff:
        return
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=cutoff)
    ).update(last_used_at=now, last_used_ip=address)
    key.last_used_at, key.last_used_ip = now, address


def apikey_revoke(*, key: ApiKey, actor: User | None) -> bool:
    """Revoke a key for good; False if it already was."""
    now = timezone.now()
    updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor
    )
    if updated:
        key.revoked_at, key.revoked_by = now, actor
    return bool(updated)


def apikey_usage_add(
    *, key_id: int, connection_id: int, count: int = 1, when: datetime | None = None
) -> None:
    """Count uses of a connection by a key: an increment, never a new row per call."""
    when = when or timezone.now()
    counter = ApiKeyUsage.objects.filter(key_id=key_id, connection_id=connection_id)
    if counter.update(count=F("count") + count, last_used_at=when):
        return
    try:
        with transaction.atomic():
            ApiKeyUsage.objects.create(
                key_id=key_id, connection_id=connection_id, count=count, last_used_at=when
            )
    except IntegrityError:
        # Another request created the counter between our UPDATE and INSERT.
        counter.update(count=F("count") + count, last_used_at=when)


def apikey_usage_count(*, key: ApiKey, connection: Connection) -> None:
    """Count one use now (the access-token endpoint: exact and immediate)."""
    apikey_usage_add(key_id=key.pk, connection_id=connection.pk)


class UsageTally:
    """Proxy calls counted in memory and added to ApiKeyUsage by a timer, once per interval.

    The proxy's hot path then writes nothing; a crash loses at most one interval of counts.
    With ``interval=None`` only ``flush()`` writes (tests).
    """

    def __init__(self, interval: float | None) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, int], tuple[int, datetime]] = {}
        self._timer: threading.Timer | None = None

    def add(self, *, key: ApiKey, connection: Connection) -> None:
        with self._lock:
            count, _ = self._pending.get((key.pk, connection.pk), (0, None))
            self._pending[(key.pk, connection.pk)] = (count + 1, timezone.now())
            if self._timer is None and self.interval is not None:
                self._timer = threading.Timer(self.interval, self._flush_in_background)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write the counts gathered so far."""
        with self._lock:
            pending, self._pending, self._timer = self._pending, {}, None
        for (key_id, connection_id), (count, when) in pending.items():
            try:
                apikey_usage_add(key_id=key_id, connection_id=connection_id, count=count, when=when)
            except DatabaseError:
                logger.exception("Could not record the API key usage of a proxied call.")

    def _flush_in_background(self) -> None:
        try:
            self.flush()
        finally:
            db_connections.close_all()


proxy_usage = UsageTally(interval=1.0)
atexit.register(proxy_usage.flush)


__all__ = [
    "connection_in_reach",
    "connections_for_key",
    "key_reaches_owner",
]
