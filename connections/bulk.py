"""Bulk import and export of connections, in CSV or JSON, streamed so memory stays flat.

An import reads its input twice: a first pass validates every row and keeps only the names seen
per owner; a second pass writes in batches with ``bulk_create``/``bulk_update`` inside one
transaction. Nothing is written unless every row is valid. Messages cite row and column only,
never a value, so no secret can leak through them.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from common.crypto import UndecryptableSecret
from connections.bulk_formats import (
    COLUMNS,
    ImportRefused,
    RowError,
    csv_escape,
    rows_read,
)
from connections.forms import API_TOKEN_MAX_LENGTH
from connections.keys import encryption_key_check
from connections.models import Action, AuthType, Connection, Event, Scope, Status
from oauthclients.models import OAuthClient

MAX_LENGTHS = {"name": 100, "company_name": 200, "api_token": API_TOKEN_MAX_LENGTH}
DEFAULT_MAX_ROWS = 100_000
BATCH_SIZE = 1000
BAD_TOKEN_CHARACTERS = re.compile(r"[\s\x00-\x1f\x7f]")
UPDATE_FIELDS = [
    "company_name",
    "auth_type",
    "api_token",
    "api_token_changed_at",
    "oauth_client",
    "access_token",
    "refresh_token",
    "access_token_expires_at",
    "status",
    "front_company_id",
    "front_company_name",
    "updated_at",
]

Progress = Callable[[str, int | None], AbstractContextManager[Any]]


@dataclass
class ImportResult:
    """What an import did (or, in a dry run, would have done)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rows: int = 0
    elapsed: float = 0.0
    dry_run: bool = False
    connection_ids: list[int] = field(default_factory=list)


class CleanRow(NamedTuple):
    """One valid row, with its owner, client and scopes resolved to ids."""

    where: str
    owner_id: int
    name: str
    company_name: str
    auth_type: str
    api_token: str
    oauth_client_id: int | None
    scope_ids: frozenset[int]

    @property
    def key(self) -> tuple[int, str]:
        return self.owner_id, self.name.lower()


class _Cleaner:
    """Turns raw values into a CleanRow, with lookups cached so each is queried once."""

    def __init__(self, *, default_owner: User | None) -> None:
        self.default_owner_id = default_owner.pk if default_owner is not None else None
        self.clients = dict(OAuthClient.objects.values_list("name", "pk"))
        self.scopes = dict(Scope.objects.values_list("code", "pk"))
        self.owners: dict[str, int | None] = {}

    def owner_id(self, username: str) -> int | None:
        if username not in self.owners:
            user = get_user_model().objects.filter(username=username).values_list("pk", flat=True)
            self.owners[username] = user.first()
        return self.owners[username]

    def clean(self, where: str, values: dict[str, Any]) -> CleanRow | list[RowError]:
        get = {column: (values.get(column) or "").strip() for column in COLUMNS}
        errors = [
            RowError(where, column, f"is longer than {limit} characters")
            for column, limit in MAX_LENGTHS.items()
            if len(get[column]) > limit
        ]
        for column in ("name", "company_name"):
            if not get[column]:
                errors.append(RowError(where, column, "is blank"))
        auth_type = get["auth_type"]
        client_id: int | None = None
        scope_ids: frozenset[int] = frozenset()
        if auth_type == AuthType.TOKEN:
            token = get["api_token"]
            if BAD_TOKEN_CHARACTERS.search(token):
                errors.append(RowError(where, "api_token", "contains spaces or control characters"))
            for column in ("oauth_client", "scopes"):
                if get[column]:
                    errors.append(RowError(where, column, "must be blank for a Token connection"))
        elif auth_type == AuthType.OAUTH2:
            if get["api_token"]:
                errors.append(RowError(where, "api_token", "must be blank for OAuth 2.0"))
            client_id = self.clients.get(get["oauth_client"])
            if not get["oauth_client"]:
                errors.append(RowError(where, "oauth_client", "an OAuth 2.0 row needs a client"))
            elif client_id is None:
                errors.append(RowError(where, "oauth_client", "no OAuth 2.0 client has this name"))
            codes = get["scopes"].split()
            unknown = sorted({code for code in codes if code not in self.scopes})
            if not codes:
                errors.append(RowError(where, "scopes", "an OAuth 2.0 row needs scopes"))
            elif unknown:
                listed = ", ".join(code[:60] for code in unknown[:5])
                errors.append(RowError(where, "scopes", f"unknown scope code(s): {listed}"))
            scope_ids = frozenset(self.scopes[code] for code in codes if code in self.scopes)
        else:
            reason = "unknown auth type; use token or oauth2" if auth_type else "is blank"
            errors.append(RowError(where, "auth_type", reason))
        owner_id = self.owner_id(get["owner"]) if get["owner"] else self.default_owner_id
        if owner_id is None:
            reason = "no user has this username" if get["owner"] else "blank, and no --owner given"
            errors.append(RowError(where, "owner", reason))
        if errors or owner_id is None:
            return errors
        return CleanRow(
            where, owner_id, get["name"], get["company_name"], auth_type,
            get["api_token"] if auth_type == AuthType.TOKEN else "", client_id, scope_ids,
        )  # fmt: skip


def _validate(
    *, stream: IO[bytes], fmt: str, cleaner: _Cleaner, update: bool, max_rows: int, bar: Any
) -> int:
    """First pass: check every row, keeping only the names seen per owner; return the count."""
    errors: list[RowError] = []
    # Per owner, lowered name -> line/index number: no tuple or label kept per row.
    seen: dict[int, dict[str, int]] = {}
    existing: dict[int, dict[str, str]] = {}
    count = 0
    for where, values in rows_read(stream, fmt):
        count += 1
        if count > max_rows:
            raise ImportRefused([RowError(where, "", f"more than {max_rows:,} rows (--max-rows)")])
        bar.update(1)
        row = cleaner.clean(where, values) if isinstance(values, dict) else [values]
        if isinstance(row, list):
            errors.extend(row)
            continue
        label, _, number = where.rpartition(" ")
        names = seen.setdefault(row.owner_id, {})
        first = names.setdefault(row.key[1], int(number))
        if first != int(number):
            reason = f"repeats the name of {label} {first} (names are unique per owner, any case)"
            errors.append(RowError(where, "name", reason))
            continue
        if row.owner_id not in existing:
            stored = Connection.objects.filter(owner_id=row.owner_id)
            existing[row.owner_id] = {
                n.lower(): a for n, a in stored.values_list("name", "auth_type")
            }
        stored_auth_type = existing[row.owner_id].get(row.name.lower())
        if stored_auth_type is not None and not update:
            reason = "this owner already has a connection with this name (use --update)"
            errors.append(RowError(where, "name", reason))
        elif row.auth_type == AuthType.TOKEN and not row.api_token:
            if stored_auth_type != AuthType.TOKEN:
                errors.append(RowError(where, "api_token", "a Token connection needs an API token"))
    if errors:
        raise ImportRefused(errors)
    return count


def _write_batch(
    *,
    batch: list[CleanRow],
    result: ImportResult,
    update: bool,
    actor: User | None,
    source: str,
) -> None:
    """Second pass, one batch: create the new rows, update the changed ones, record Events."""
    now = timezone.now()
    through = Connection.scopes.through
    existing = {}
    if update:  # Without --update the first pass refused every name that exists.
        candidates = Connection.objects.annotate(lname=Lower("name")).filter(
            owner_id__in={r.owner_id for r in batch}, lname__in={r.key[1] for r in batch}
        )
        existing = {(c.owner_id, c.lname): c for c in candidates.prefetch_related("scopes")}
    new: list[Connection] = []
    new_scopes: list[frozenset[int]] = []
    changed: list[tuple[Connection, frozenset[int], list[str]]] = []
    for row in batch:
        connection = existing.get(row.key)
        if connection is None:
            new.append(_build(row, now))
            new_scopes.append(row.scope_ids)
            continue
        fields = _apply(connection, row, now)
        if fields:
            changed.append((connection, row.scope_ids, fields))
        else:
            result.unchanged += 1
        result.connection_ids.append(connection.pk)
    Connection.objects.bulk_create(new, batch_size=BATCH_SIZE)
    Connection.objects.bulk_update([c for c, _, _ in changed], UPDATE_FIELDS, batch_size=500)
    through.objects.filter(
        connection_id__in=[c.pk for c, _, f in changed if "scopes" in f]
    ).delete()
    links = [(c, s) for c, s in zip(new, new_scopes, strict=True)] + [
        (c, s) for c, s, f in changed if "scopes" in f
    ]
    through.objects.bulk_create(
        [through(connection_id=c.pk, scope_id=s) for c, ids in links for s in sorted(ids)],
        batch_size=BATCH_SIZE,
    )
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    events = [_event(c, actor_id, source, now, "Created by import.", []) for c in new]
    events += [_event(c, actor_id, source, now, "Updated by import.", f) for c, _, f in changed]
    Event.objects.bulk_create(events, batch_size=BATCH_SIZE)
    result.created += len(new)
    result.updated += len(changed)
    result.connection_ids.extend(c.pk for c in new)
    result.connection_ids.extend(c.pk for c, _, _ in changed)


def _build(row: CleanRow, now: Any) -> Connection:
    return Connection(
        owner_id=row.owner_id,
        name=row.name,
        company_name=row.company_name,
        auth_type=row.auth_type,
        api_token=row.api_token,
        api_token_changed_at=now if row.api_token else None,
        oauth_client_id=row.oauth_client_id,
        status=Status.NOT_AUTHORIZED,
    )


def _apply(connection: Connection, row: CleanRow, now: Any) -> list[str]:
    """Copy a row onto an existing connection as the connection form would; return the fields."""
    fields = []
    if connection.company_name != row.company_name:
        connection.company_name = row.company_name
        fields.append("company_name")
    if connection.auth_type != row.auth_type or connection.oauth_client_id != row.oauth_client_id:
        # A different way of signing in voids what the old one proved.
        fields += [f for f in ("auth_type", "oauth_client") if f not in fields]
        connection.auth_type, connection.oauth_client_id = row.auth_type, row.oauth_client_id
        connection.status = Status.NOT_AUTHORIZED
        connection.access_token = connection.refresh_token = ""
        connection.access_token_expires_at = None
        connection.front_company_id = connection.front_company_name = ""
    stored = connection.api_token
    if row.auth_type == AuthType.TOKEN and not row.api_token:
        pass  # A blank token keeps the stored one, so an export imports back unchanged.
    elif isinstance(stored, UndecryptableSecret) or stored != row.api_token:
        connection.api_token = row.api_token
        connection.api_token_changed_at = now
        fields.append("api_token")
    if {s.pk for s in connection.scopes.all()} != set(row.scope_ids):
        fields.append("scopes")
    if fields:
        connection.updated_at = now
    return sorted(set(fields))


def _event(connection: Connection, actor_id: int | None, source: str, now: Any, message: str,
           fields: list[str]) -> Event:  # fmt: skip
    return Event(
        connection_id=connection.pk,
        connection_name=connection.name,
        actor_id=actor_id,
        action=Action.IMPORTED,
        source=source,
        message=message,
        fields=fields,
        created_at=now,
    )


def import_check_key() -> None:
    """Refuse to import when the configured key cannot read the secrets already stored (F5)."""
    problem = encryption_key_check()
    if problem is None:
        for model, field_name in ((Connection, "api_token"), (OAuthClient, "client_secret")):
            sample = model.objects.only(field_name).order_by("-pk")[:20]
            unreadable = next(
                (o for o in sample if isinstance(getattr(o, field_name), UndecryptableSecret)),
                None,
            )
            if unreadable is not None:
                problem = (
                    "FRONTCONNECT_ENCRYPTION_KEY cannot decrypt the stored secrets "
                    f"({model._meta.verbose_name} {unreadable.pk}); fix the key first"
                )
                break
    if problem is not None:
        raise ImportRefused([RowError("input", "", problem)])


def connection_import(
    *,
    stream: IO[bytes],
    fmt: str,
    default_owner: User | None = None,
    update: bool = False,
    dry_run: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
    actor: User | None = None,
    source: str = "command",
    progress: Progress | None = None,
) -> ImportResult:
    """Validate a whole CSV/JSON input, then write it in batches in one transaction."""
    started = time.monotonic()
    progress = progress or (lambda description, total: nullcontext(_NoBar()))
    import_check_key()
    cleaner = _Cleaner(default_owner=default_owner)
    with progress("Checking", None) as bar:
        count = _validate(
            stream=stream, fmt=fmt, cleaner=cleaner, update=update, max_rows=max_rows, bar=bar
        )
    result = ImportResult(rows=count, dry_run=dry_run)
    with progress("Importing", count) as bar, transaction.atomic():
        batch: list[CleanRow] = []
        for where, values in rows_read(stream, fmt):
            row = cleaner.clean(where, values) if isinstance(values, dict) else [values]
            if not isinstance(row, CleanRow):  # the input changed between the two passes
                raise ImportRefused(row)
            batch.append(row)
            if len(batch) == BATCH_SIZE:
                _write_batch(batch=batch, result=result, update=update, actor=actor, source=source)
                bar.update(len(batch))
                batch = []
        if batch:
            _write_batch(batch=batch, result=result, update=update, actor=actor, source=source)
            bar.update(len(batch))
        if dry_run:
            transaction.set_rollback(True)
    result.elapsed = time.monotonic() - started
    return result


class _NoBar:
    def update(self, n: int) -> None:
        return None


def connection_export(*, out: IO[str], fmt: str, owner: User | None = None) -> int:
    """Write every connection (or one owner's) in the import format, secrets blank."""
    connections = Connection.objects.order_by("owner__username", "name", "pk")
    if owner is not None:
        connections = connections.filter(owner=owner)
    rows = connections.values_list("pk", "name", "company_name", "auth_type",
                                   "oauth_client__name", "owner__username")  # fmt: skip
    writer = csv.writer(out, lineterminator="\r\n") if fmt == "csv" else None
    if writer:
        writer.writerow(COLUMNS)
    else:
        out.write("[")
    count = 0
    for batch in _chunks(rows.iterator(chunk_size=BATCH_SIZE), BATCH_SIZE):
        codes: dict[int, list[str]] = {}
        links = Connection.scopes.through.objects.filter(connection_id__in=[r[0] for r in batch])
        for connection_id, code in links.values_list("connection_id", "scope__code"):
            codes.setdefault(connection_id, []).append(code)
        for pk, name, company, auth_type, client, username in batch:
            values = [name, company, auth_type, "", client or "",
                      " ".join(sorted(codes.get(pk, []))), username]  # fmt: skip
            if writer:
                writer.writerow([csv_escape(value) for value in values])
            else:
                prefix = "," if count else ""
                out.write(f"{prefix}\n  " + json.dumps(dict(zip(COLUMNS, values, strict=True))))
            count += 1
    if not writer:
        out.write("\n]\n" if count else "]\n")
    return count


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
