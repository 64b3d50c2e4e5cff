"""API keys: create, recognise, revoke, and count what they are used for."""

from __future__ import annotations

import atexit
import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, models, transaction
from django.db import connections as db_connections
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from api.models import KEY_PREFIX, ApiKey, ApiKeyUsage, KeyScope, Permission
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
    expires_at: datetime | None = None,
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
    try:
        # The owner is checked in the query and loaded only if a request needs it.
        key = ApiKey.objects.filter(owner__is_active=True).get(public_id=match.group(1))
    except ApiKey.DoesNotExist:
        return None
    if not hmac.compare_digest(key.key_hash, key_hash(plaintext)):
        return None
    return key if key.is_active() else None


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


def connection_in_reach(key: ApiKey, pk: int, fields: Iterable[str]) -> Connection | None:
    """One connection within the key's reach, with only ``fields`` loaded: the proxy's hot path.

    The same reach as ``connections_for_key`` (a test holds them equal) in one statement that
    skips the ORM's query building, which costs more than the query itself.
    """
    ops = db_connections["default"].ops
    meta = Connection._meta
    columns = ", ".join(
        ops.quote_name(cast(models.Field, meta.get_field(name)).column) for name in ["id", *fields]
    )
    # Only quoted names from the models' metadata are formatted in; every value is a parameter.
    table = ops.quote_name(meta.db_table)
    sql = f"SELECT {columns} FROM {table} WHERE {ops.quote_name('id')} = %s"  # noqa: S608  # nosec B608
    params: list[object] = [pk]
    if key.scope != KeyScope.ALL:
        m2m = "users" if key.scope == KeyScope.USERS else "connections"
        field = ApiKey._meta.get_field(m2m)
        through = field.remote_field.through._meta  # type: ignore[union-attr]
        own = through.get_field("apikey").column
        target = through.get_field("user" if m2m == "users" else "connection").column
        column = "owner_id" if m2m == "users" else "id"
        sql += (
            f" AND {ops.quote_name(column)} IN (SELECT {ops.quote_name(target)} FROM "  # noqa: S608  # nosec B608
            f"{ops.quote_name(through.db_table)} WHERE {ops.quote_name(own)} = %s)"
        )
        params.append(key.pk)
    found = list(Connection.objects.raw(sql, params))
    return found[0] if found else None


def user_in_scope(key: ApiKey, user: User) -> bool:
    """Whether connections owned by ``user`` are within the key's reach."""
    if key.scope == KeyScope.ALL:
        return True
    if key.scope == KeyScope.USERS:
        return key.users.filter(pk=user.pk).exists()
    return False
