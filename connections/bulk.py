"""Bulk import of connections, in CSV or JSON, streamed so memory stays flat.

An import reads its input twice: a first pass validates every row and keeps only the names seen
per owner (reads only: no write lock); a second pass checks each row again and writes in
batches, re-reading the matched rows under a row lock and writing only the columns each row
changes. On PostgreSQL the batches share one transaction. SQLite has a single write lock for the
whole database, so there each batch of ``SQLITE_BATCH_SIZE`` rows commits on its own and other
writers (the heartbeat, sessions, sign-ins) get in between; a crash or a row refused by the
write pass (the file changed after validation, a name created meanwhile) then leaves the
batches before it written, and the refusal says so.
The rules of a connection are ``connections.rules``'; this module translates rows into its
input. Nothing is written unless every row is valid. Messages cite row and column only, never a
value, so no secret can leak through them. Export is in ``connections.bulk_export``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import IO, Any, NamedTuple

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db import connection as db
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from common.crypto import UndecryptableSecret
from common.text import name_key
from common.wording import Said
from connections import access, rules
from connections.bulk_formats import (
    COLUMNS,
    ImportRefused,
    RowError,
    input_where,
    number_text,
    rows_read,
)
from connections.keys import encryption_key_check
from connections.models import AuthType, Connection, Scope, Source
from connections.rules import ConnectionInput
from oauthclients.models import OAuthClient

DEFAULT_MAX_ROWS = 100_000
BATCH_SIZE = 1000
# Rows per transaction on SQLite: each holds the database's write lock for a few tens of ms.
SQLITE_BATCH_SIZE = 200

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
    """One row translated into the rules' input, with where its name must be unique (its
    team's id, else 0 and its owner's id) and its normalised name."""

    where: str
    data: ConnectionInput
    key: tuple[int, int, str]

    @property
    def names(self) -> tuple[int, int]:
        """The set of names this row's name is unique in: (team id, 0) or (0, owner id)."""
        return self.key[0], self.key[1]


def _row_errors(where: str, errors: rules.Errors) -> list[RowError]:
    return [RowError(where, column, message) for column, message in rules.field_errors(errors)]


# A blank token is valid when the stored row has one: known only once the database is read.
_DECIDED_LATER = {"api_token_required"}
_COLUMN_ORDER = {column: n for n, column in enumerate(COLUMNS)}


class _Cleaner:
    """Translates raw cells into a ConnectionInput; lookups cached so each is queried once.

    The checks here are about the file (a cell that the row's auth type would silently drop is
    refused as a likely misplaced column); the rules of a connection are ``connections.rules``'.
    """

    def __init__(self, *, default_owner: User | None) -> None:
        self.default_owner = default_owner
        self.clients = {c.name: c for c in OAuthClient.objects.only("pk", "name")}
        self.scopes = {s.code: s for s in Scope.objects.only("pk", "code")}
        self.owners: dict[str, User | None] = {}
        self.teams = {
            key: pk for pk, key in access.team_model()._default_manager.values_list(
                "pk", "name_key"
            )
        }  # fmt: skip

    def owner(self, username: str) -> User | None:
        if username not in self.owners:
            self.owners[username] = access.owner_by_username(username)
        return self.owners[username]

    def clean(self, where: str, values: dict[str, Any]) -> CleanRow | list[RowError]:
        get = {column: (values.get(column) or "").strip() for column in COLUMNS}
        errors: list[RowError] = []
        auth_type = get["auth_type"]
        client: OAuthClient | None = None
        scopes: frozenset[Scope] = frozenset()
        if auth_type == AuthType.TOKEN:
            for column in ("oauth_client", "scopes"):
                if get[column]:
                    reason = _("must be blank for a Token connection")
                    errors.append(RowError(where, column, reason))
        elif auth_type == AuthType.OAUTH2:
            if get["api_token"]:
                errors.append(RowError(where, "api_token", _("must be blank for OAuth 2.0")))
            if get["oauth_client"]:
                client = self.clients.get(get["oauth_client"])
                if client is None:
                    reason = _("no OAuth 2.0 client has this name")
                    errors.append(RowError(where, "oauth_client", reason))
            codes = get["scopes"].split()
            unknown = [n for n, code in enumerate(codes, start=1) if code not in self.scopes]
            if unknown:
                # Positions only: a token pasted into the wrong cell must not be printed.
                listed = ", ".join(str(n) for n in unknown[:10])
                reason = ngettext(
                    "unknown scope code at position %(positions)s of the cell (not shown)",
                    "unknown scope codes at positions %(positions)s of the cell (not shown)",
                    len(unknown),
                ) % {"positions": listed}
                errors.append(RowError(where, "scopes", reason))
            scopes = frozenset(self.scopes[code] for code in codes if code in self.scopes)
        owner = self.default_owner
        if get["owner"]:
            owner = self.owner(get["owner"])
            if owner is None:
                errors.append(RowError(where, "owner", _("no user has this username")))
        elif owner is None:
            errors.append(RowError(where, "owner", _("blank, and no --owner given")))
        team_id = 0
        if get["team"]:
            team_id = self.teams.get(name_key(get["team"]), 0)
            if not team_id:
                errors.append(RowError(where, "team", _("no team has this name")))
        data = ConnectionInput(
            name=get["name"],
            company_name=get["company_name"],
            auth_type=auth_type,
            owner=owner,
            api_token=get["api_token"] or None,
            oauth_client=client,
            scopes=scopes,
            # A blank cell is the owner's own; an import never moves a connection (it matches
            # rows by name within their team, or within their owner's own).
            team=access.team_model()(pk=team_id) if team_id else None,
        )
        # The rules without the stored row: what a new connection needs (the name and the
        # stored token are checked against the database in _validate and again when writing).
        checked = rules.connection_check(
            stored=None, data=data, token_policy=rules.TokenPolicy.KEEP_IF_BLANK
        )
        reported = {e.column for e in errors}
        errors += _row_errors(
            where,
            {
                column: [e for e in problems if e.code not in _DECIDED_LATER]
                for column, problems in checked.items()
                if column not in reported
            },
        )
        if errors:
            return sorted(errors, key=lambda e: _COLUMN_ORDER.get(e.column, len(COLUMNS)))
        owner_id = owner.pk if owner is not None and not team_id else 0
        return CleanRow(where, data, (team_id, owner_id, name_key(data.name)))


class _Names:
    """The names seen per owner (or team), normalised, with the row that used each first."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, int], dict[str, str]] = {}

    def repeated(self, row: CleanRow) -> RowError | None:
        key = row.key[2]
        first = self.seen.setdefault(row.names, {}).setdefault(key, row.where)
        if first == row.where:
            return None
        reason = _(
            "repeats the name of %(first)s (names are unique per owner and per team, ignoring "
            "case and look-alike characters)"
        ) % {"first": first}
        return RowError(row.where, "name", reason)


def _stored(names: tuple[int, int]) -> dict[str, rules.Stored]:
    """A team's connections, or an owner's own, by normalised name, read without decrypting."""
    team_id, owner_id = names
    if team_id:
        found = Connection.objects.filter(team_id=team_id)
    else:
        found = Connection.objects.filter(owner_id=owner_id, team__isnull=True)
    rows = found.values_list("name_key", "pk", "auth_type", "oauth_client_id", "api_token")
    return {
        key: rules.Stored(pk, auth_type, client_id, token not in (None, ""))
        for key, pk, auth_type, client_id, token in rows
    }


def _check_against(
    row: CleanRow, stored: rules.Stored | None, *, update: bool, policy: rules.TokenPolicy
) -> list[RowError]:
    """The rules for a row given what the database holds under its name."""
    if stored is not None and not update:
        if row.key[0]:
            reason = _("this team already has a connection with this name (use --update)")
        else:
            reason = _("this owner already has a connection with this name (use --update)")
        return [RowError(row.where, "name", reason)]
    if row.data.auth_type != AuthType.TOKEN or row.data.api_token is not None:
        return []  # nothing else depends on the stored row; _Cleaner checked the rest
    errors = rules.connection_check(stored=stored, data=row.data, token_policy=policy)
    return _row_errors(row.where, {"api_token": errors.get("api_token", [])})


def _validate(
    *,
    stream: IO[bytes],
    fmt: str,
    cleaner: _Cleaner,
    update: bool,
    max_rows: int,
    max_bytes: int | None,
    policy: rules.TokenPolicy,
    bar: Any,
) -> int:
    """First pass: check every row, keeping only the names seen per owner; return the count."""
    errors: list[RowError] = []
    names = _Names()
    existing: dict[tuple[int, int], dict[str, rules.Stored]] = {}
    count = 0
    for where, values in rows_read(stream, fmt, max_bytes):
        count += 1
        if count > max_rows:
            raise ImportRefused([RowError(where, "", _too_many_rows(max_rows))])
        bar.update(1)
        row = cleaner.clean(where, values) if isinstance(values, dict) else [values]
        if isinstance(row, list):
            errors.extend(row)
            continue
        repeated = names.repeated(row)
        if repeated is not None:
            errors.append(repeated)
            continue
        if row.names not in existing:
            existing[row.names] = _stored(row.names)
        errors += _check_against(
            row, existing[row.names].get(row.key[2]), update=update, policy=policy
        )
    if errors:
        raise ImportRefused(errors)
    return count


def _write_batch(
    *,
    batch: list[CleanRow],
    result: ImportResult,
    update: bool,
    policy: rules.TokenPolicy,
    actor: User | None,
    source: str,
    checks_in_request: bool,
) -> None:
    """Second pass, one batch: the rules assign each row, ``rules.changes_write`` writes them.

    Existing rows are re-read under a row lock and checked again; each is written only in the
    columns its row changes, so a token refreshed since the first pass is never written back.
    """
    now = timezone.now()
    owned = Q(team__isnull=True, owner_id__in={r.key[1] for r in batch if not r.key[0]})
    in_teams = Q(team_id__in={r.key[0] for r in batch if r.key[0]})
    locked = (
        Connection.objects.select_for_update()
        .filter(owned | in_teams, name_key__in={r.key[2] for r in batch})
        .prefetch_related("scopes")
    )
    existing = {(c.team_id or 0, 0 if c.team_id else c.owner_id, c.name_key): c for c in locked}
    errors: list[RowError] = []
    changes: list[rules.Change] = []
    for row in batch:
        connection = existing.get(row.key)
        stored = rules.Stored.of(connection) if connection is not None else None
        problems = _check_against(row, stored, update=update, policy=policy)
        if problems:
            errors += problems
            continue
        scopes = rules.scopes_for(row.data)
        if connection is None:
            built = rules.connection_build(row.data, now=now)
            changes.append(rules.Change(built, True, [], scopes))
            continue
        # An import matches names; it does not respell them.
        data = replace(row.data, name=connection.name, team=rules.KEEP_TEAM)
        fields, verdict = rules.connection_assign(connection, data, now=now)
        if {s.pk for s in connection.scopes.all()} != {s.pk for s in scopes}:
            fields.append("scopes")
        if fields:
            changes.append(rules.Change(connection, False, fields, scopes, verdict))
        else:
            result.unchanged += 1
            result.connection_ids.append(connection.pk)
    if errors:
        raise ImportRefused(errors)
    rules.changes_write(
        changes, actor=actor, source=source, now=now, imported=True,
        checks_in_request=checks_in_request,
    )  # fmt: skip
    result.created += sum(1 for c in changes if c.created)
    result.updated += sum(1 for c in changes if not c.created)
    result.connection_ids.extend(c.connection.pk for c in changes if c.created)
    result.connection_ids.extend(c.connection.pk for c in changes if not c.created)


def import_check_key() -> None:
    """Refuse to import when the configured key cannot read the secrets already stored (F5)."""
    problem: Said | str | None = encryption_key_check()
    if problem is None:
        for model, field_name in ((Connection, "api_token"), (OAuthClient, "client_secret")):
            sample = model.objects.only(field_name).order_by("-pk")[:20]
            unreadable = next(
                (o for o in sample if isinstance(getattr(o, field_name), UndecryptableSecret)),
                None,
            )
            if unreadable is not None:
                problem = _(
                    "FRONTCONNECT_ENCRYPTION_KEY cannot decrypt the stored secrets "
                    "(%(model)s %(id)s); fix the key first"
                ) % {"model": model._meta.verbose_name, "id": unreadable.pk}
                break
    if problem is not None:
        raise ImportRefused([RowError(input_where(), "", str(problem))])


def connection_import(
    *,
    stream: IO[bytes],
    fmt: str,
    default_owner: User | None = None,
    update: bool = False,
    dry_run: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int | None = None,
    actor: User | None = None,
    source: str = Source.COMMAND,
    progress: Progress | None = None,
    checks_in_request: bool = False,
) -> ImportResult:
    """Validate a whole CSV/JSON input, then write it in batches (in one transaction but on SQLite).

    The write pass re-reads the input, so it checks again everything the first pass did (row
    count, size, names repeated in the file, the rules against the rows it locks): a file that
    changed in between is refused, never half written. New and changed API tokens are left Not
    checked yet and queued for the worker on commit, unless the caller checks them itself
    (``checks_in_request``, as ``importconnections --test`` does).
    """
    started = time.monotonic()
    progress = progress or (lambda description, total: nullcontext(_NoBar()))
    import_check_key()
    cleaner = _Cleaner(default_owner=default_owner)
    policy = rules.token_policy_for(actor=actor, source=source, owner_id=None)
    with progress(_("Checking"), None) as bar:
        count = _validate(
            stream=stream, fmt=fmt, cleaner=cleaner, update=update, max_rows=max_rows,
            max_bytes=max_bytes, policy=policy, bar=bar,
        )  # fmt: skip
    result = ImportResult(rows=count, dry_run=dry_run)

    # See the module's docstring: one transaction, or on SQLite one per batch.
    one_transaction = db.vendor != "sqlite"
    batch_size = BATCH_SIZE if one_transaction else SQLITE_BATCH_SIZE
    committed = 0

    def write(batch: list[CleanRow]) -> None:
        nonlocal committed
        with nullcontext() if one_transaction else transaction.atomic():
            _write_batch(
                batch=batch, result=result, update=update, policy=policy, actor=actor,
                source=source, checks_in_request=checks_in_request,
            )  # fmt: skip
            if dry_run and not one_transaction:
                transaction.set_rollback(True)
        if not one_transaction and not dry_run:
            committed += len(batch)

    try:
        with (
            progress(_("Importing"), count) as bar,
            transaction.atomic() if one_transaction else nullcontext(),
        ):
            batch: list[CleanRow] = []
            names = _Names()
            for n, (where, values) in enumerate(rows_read(stream, fmt, max_bytes), start=1):
                if n > max_rows:
                    raise ImportRefused([RowError(where, "", _too_many_rows(max_rows))])
                row = cleaner.clean(where, values) if isinstance(values, dict) else [values]
                if not isinstance(row, CleanRow):  # the input changed between the two passes
                    raise ImportRefused(row)
                repeated = names.repeated(row)
                if repeated is not None:
                    raise ImportRefused([repeated])
                batch.append(row)
                if len(batch) == batch_size:
                    write(batch)
                    bar.update(len(batch))
                    batch = []
            if batch:
                write(batch)
                bar.update(len(batch))
            if dry_run and one_transaction:
                transaction.set_rollback(True)
    except IntegrityError:
        # Another writer created one of these names after the rows were locked.
        reason = _("a connection with one of these names was created meanwhile; import again")
        raise ImportRefused(
            [RowError(input_where(), "", reason), *_partly_written(committed)]
        ) from None
    except ImportRefused as refused:
        refused.errors.extend(_partly_written(committed))
        raise
    result.elapsed = time.monotonic() - started
    return result


def _partly_written(rows: int) -> list[RowError]:
    """The note a refusal of the write pass carries when SQLite batches were already committed."""
    if not rows:
        return []
    reason = ngettext(
        "the first %(count)s row was already written (on SQLite each batch commits on its "
        "own); fix the input and import it again with --update",
        "the first %(count)s rows were already written (on SQLite each batch commits on its "
        "own); fix the input and import it again with --update",
        rows,
    ) % {"count": number_text(rows)}
    return [RowError(input_where(), "", reason)]


def _too_many_rows(max_rows: int) -> str:
    return ngettext(
        "more than %(count)s row (--max-rows)", "more than %(count)s rows (--max-rows)", max_rows
    ) % {"count": number_text(max_rows)}


class _NoBar:
    def update(self, n: int) -> None:
        return None
