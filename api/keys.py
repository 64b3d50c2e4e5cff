"""API keys: create, recognise, revoke, and count what they are used for."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from api.models import KEY_PREFIX, ApiKey, ApiKeyUsage, KeyScope, Permission
from connections.models import Connection

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


def key_hash(plaintext: str) -> str:
    """SHA-256 of the whole key: enough for 256-bit random keys, and fast on every request."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def apikey_create(
    *,
    name: str,
    owner: User,
    permissions: Iterable[str],
    scope: str = KeyScope.USERS,
    users: Iterable[User] | None = None,
    connections: Iterable[Connection] = (),
    expires_at: timezone.datetime | None = None,
    created_by: User | None = None,
    key: ApiKey | None = None,
) -> NewKey:
    """Create a key (or finish one an admin form prepared) and return it with its plaintext."""
    permissions = sorted(set(permissions))
    unknown = set(permissions) - set(Permission.values)
    if unknown:
        raise ValueError(f"Unknown permission: {', '.join(sorted(unknown))}.")
    public_id = secrets.token_hex(PUBLIC_ID_LENGTH // 2)
    plaintext = f"{KEY_PREFIX}{public_id}_{secrets.token_urlsafe(32)}"
    key = key if key is not None else ApiKey()
    key.name = name
    key.owner = owner
    key.permissions = permissions
    key.scope = scope
    key.expires_at = expires_at
    key.created_by = created_by
    key.public_id = public_id
    key.key_hash = key_hash(plaintext)
    with transaction.atomic():
        key.save()
        if scope == KeyScope.USERS:
            key.users.set(list(users) if users is not None else [owner])
        elif scope == KeyScope.CONNECTIONS:
            key.connections.set(list(connections))
    return NewKey(key=key, plaintext=plaintext)


def apikey_authenticate(plaintext: str) -> ApiKey | None:
    """The active key that ``plaintext`` is, or None: one indexed lookup and one hash compare."""
    match = KEY_PATTERN.match(plaintext)
    if match is None:
        return None
    key = ApiKey.objects.select_related("owner").filter(public_id=match.group(1)).first()
    if key is None or not hmac.compare_digest(key.key_hash, key_hash(plaintext)):
        return None
    if not key.is_active() or not key.owner.is_active:
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


def apikey_usage_count(*, key: ApiKey, connection: Connection) -> None:
    """Count one use of a connection by a key: an increment, never a new row per call."""
    now = timezone.now()
    counter = ApiKeyUsage.objects.filter(key=key, connection=connection)
    if counter.update(count=F("count") + 1, last_used_at=now):
        return
    try:
        with transaction.atomic():
            ApiKeyUsage.objects.create(key=key, connection=connection, count=1, last_used_at=now)
    except IntegrityError:
        # Another request created the counter between our UPDATE and INSERT.
        counter.update(count=F("count") + 1, last_used_at=now)


def connections_for_key(key: ApiKey) -> QuerySet[Connection]:
    """The connections this key reaches; the only queryset API views look up in."""
    connections = Connection.objects.all()
    if key.scope == KeyScope.ALL:
        return connections
    if key.scope == KeyScope.USERS:
        return connections.filter(
            owner__in=key.users.through.objects.filter(apikey=key).values("user")
        )
    return connections.filter(
        pk__in=key.connections.through.objects.filter(apikey=key).values("connection")
    )


def user_in_scope(key: ApiKey, user: User) -> bool:
    """Whether connections owned by ``user`` are within the key's reach."""
    if key.scope == KeyScope.ALL:
        return True
    if key.scope == KeyScope.USERS:
        return key.users.filter(pk=user.pk).exists()
    return False
