"""Re-encrypting every stored secret under the current encryption key."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db import DatabaseError, models, transaction
from django.db import connection as db

from common import crypto
from connections.events import event_build, events_record
from connections.models import (
    Action,
    Connection,
    EncryptionKeyFingerprint,
    Event,
    Source,
)
from connections.wording import Said, said

BATCH_SIZE = 500
# A web process re-reads the stored fingerprint this often: one small query a minute notices a
# rotation done elsewhere (with a key this process lacks) without a query per request.
KEY_RECHECK_SECONDS = 60.0


class KeyMismatchError(Exception):
    """The configured keys are not the ones this database's secrets were written with."""


@dataclass
class RotationReport:
    """Counts of one rotation run; undecryptable values are named by table and id only."""

    rotated: int = 0
    current: int = 0
    empty: int = 0
    undecryptable: list[tuple[str, int, str]] = field(default_factory=list)
    unverified: list[tuple[str, int, str]] = field(default_factory=list)


def encrypted_columns() -> list[tuple[type[models.Model], list[str]]]:
    """Every model with encrypted fields, and the names of those fields."""
    # Found, not listed: a model that gains a secret (webhooks did) is rotated with no change here.
    found: list[tuple[type[models.Model], list[str]]] = []
    for model in apps.get_models():
        names = [
            f.name for f in model._meta.concrete_fields if isinstance(f, crypto.EncryptedTextField)
        ]
        if names:
            found.append((model, names))
    return found


def _raw_rows(
    model: type[models.Model], columns: list[str], after: int, lock: bool
) -> list[tuple[int, list[bytes | None]]]:
    # The ORM would decrypt on read; rotation needs the ciphertext itself.
    quote = db.ops.quote_name
    table = quote(model._meta.db_table)
    db_columns = {f.name: f.column for f in model._meta.concrete_fields}
    cols = ", ".join(quote(db_columns[c]) for c in columns)
    # Identifiers come from model metadata and are quoted; values are parameters.
    sql = f"SELECT id, {cols} FROM {table} WHERE id > %s ORDER BY id LIMIT %s"  # noqa: S608  # nosec
    if lock and db.features.has_select_for_update:
        sql += " FOR UPDATE"
    with db.cursor() as cursor:
        cursor.execute(sql, [after, BATCH_SIZE])
        return [
            (row[0], [bytes(v) if v is not None else None for v in row[1:]])
            for row in cursor.fetchall()
        ]


def _batches(
    model: type[models.Model], columns: list[str], lock: bool
) -> Iterator[list[tuple[int, list[bytes | None]]]]:
    after = 0
    while True:
        with transaction.atomic():
            rows = _raw_rows(model, columns, after, lock)
            if not rows:
                return
            yield rows
        after = rows[-1][0]


def secrets_rotate(
    *, dry_run: bool = False, progress: Callable[[str], None] | None = None
) -> RotationReport:
    """Re-encrypt under the current key every value that an older key encrypted, then verify."""
    report = RotationReport()
    problem = encryption_key_check()
    if problem is not None:
        raise KeyMismatchError(problem)
    for model, columns in encrypted_columns():
        label = model._meta.label
        for rows in _batches(model, columns, lock=not dry_run):
            events: list[Event] = []
            for pk, values in rows:
                updates = {}
                for name, raw in zip(columns, values, strict=True):
                    if not raw:
                        report.empty += 1
                        continue
                    if not crypto.needs_rotation(raw):
                        report.current += 1
                        continue
                    plaintext = crypto.decrypt(raw)
                    if isinstance(plaintext, crypto.UndecryptableSecret):
                        report.undecryptable.append((label, pk, name))
                        continue
                    updates[name] = plaintext
                    report.rotated += 1
                if updates and not dry_run:
                    model._default_manager.filter(pk=pk).update(**updates)
                    if model is Connection:
                        events.append(
                            event_build(
                                connection=Connection.objects.only("pk", "name").get(pk=pk),
                                action=Action.KEY_ROTATED,
                                source=Source.COMMAND,
                                message=said("history.reencrypted"),
                                fields=updates,
                            )
                        )
            events_record(events)
        if progress:
            progress(label)
    if not dry_run:
        reported = set(report.undecryptable)
        report.unverified = [row for row in secrets_verify() if row not in reported]
        if not report.undecryptable and not report.unverified:
            encryption_key_record()
    return report


def secrets_verify() -> list[tuple[str, int, str]]:
    """Every non-empty secret that the current key alone cannot read, by table, id and field."""
    failures = []
    for model, columns in encrypted_columns():
        for rows in _batches(model, columns, lock=False):
            for pk, values in rows:
                for name, raw in zip(columns, values, strict=True):
                    if raw and crypto.needs_rotation(raw):
                        failures.append((model._meta.label, pk, name))
    return failures


# How many of the newest stored values of each encrypted column the first check tries to read.
FIRST_CHECK_SAMPLE = 20


def _stored_secrets_problem() -> Said | None:
    """Why the configured keys cannot be the ones the stored secrets were written with, if so.

    Reads a sample of the newest values of every encrypted column: a wrong key reads none of
    them, the right one reads them all (a single damaged value does not count against it).
    """
    quote = db.ops.quote_name
    sampled = 0
    for model, columns in encrypted_columns():
        table = quote(model._meta.db_table)
        db_columns = {f.name: f.column for f in model._meta.concrete_fields}
        for name in columns:
            column = quote(db_columns[name])
            # Identifiers come from model metadata and are quoted; the limit is a parameter.
            sql = (
                f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL "  # noqa: S608  # nosec
                "ORDER BY id DESC LIMIT %s"
            )
            with db.cursor() as cursor:
                cursor.execute(sql, [FIRST_CHECK_SAMPLE])
                values = [bytes(row[0]) for row in cursor.fetchall() if row[0]]
            for value in values:
                if not isinstance(crypto.decrypt(value), crypto.UndecryptableSecret):
                    return None
            sampled += len(values)
    if not sampled:
        return None
    return said("key.sample_unreadable", sampled=sampled)


def encryption_key_check() -> Said | None:
    """A sentence saying why the configured keys cannot read this database, or None if they can.

    The first call records the current key's fingerprint, once a sample of the stored secrets
    (a database older than fingerprints has some) proved readable; later calls compare
    against it. A fingerprint in the older form (a hash of the key's spelling) is upgraded.
    """
    current = crypto.key_fingerprint(crypto.current_key())
    accepted = {crypto.key_fingerprint(key) for key in crypto.all_keys()}
    stored = EncryptionKeyFingerprint.objects.order_by("pk").first()
    if stored is None:
        problem = _stored_secrets_problem()
        if problem is None:
            EncryptionKeyFingerprint.objects.create(fingerprint=current)
        return problem
    if stored.fingerprint in accepted:
        return None
    for key in crypto.all_keys():
        if stored.fingerprint in crypto.key_fingerprints_legacy(key):
            EncryptionKeyFingerprint.objects.filter(pk=stored.pk).update(
                fingerprint=crypto.key_fingerprint(key)
            )
            return None
    return said("key.not_this_one", fingerprint=stored.fingerprint)


def encryption_key_record() -> None:
    """Record the current key as the one every secret is now written with."""
    current = crypto.key_fingerprint(crypto.current_key())
    EncryptionKeyFingerprint.objects.update_or_create(pk=1, defaults={"fingerprint": current})


@dataclass(frozen=True)
class _KeyVerdict:
    keys: tuple[str, ...]
    problem: Said | None
    checked_at: float


_verdict: _KeyVerdict | None = None
_verdict_lock = threading.Lock()


def encryption_key_problem() -> Said | None:
    """``encryption_key_check``, remembered by this process and re-checked once a minute.

    Raises DatabaseError when the database cannot answer; nothing is remembered then.
    """
    global _verdict
    keys = tuple(crypto.all_keys())
    now = time.monotonic()
    verdict = _verdict
    if verdict and verdict.keys == keys and now - verdict.checked_at < KEY_RECHECK_SECONDS:
        return verdict.problem
    with _verdict_lock:
        # Requests that waited here while another one checked take its verdict: each running
        # the check again would hold a database connection per waiting request.
        verdict = _verdict
        if verdict and verdict.keys == keys and verdict.checked_at >= now:
            return verdict.problem
        problem = encryption_key_check()
        _verdict = _KeyVerdict(keys=keys, problem=problem, checked_at=time.monotonic())
    return problem


def encryption_key_forget() -> None:
    """Drop the remembered verdict, so the next request checks again."""
    global _verdict, _refusal_logged
    _verdict = None
    _refusal_logged = None


def encryption_key_require() -> None:
    """Raise ``KeyMismatchError`` (one sentence naming the variable) on a key mismatch.

    Every process that reads secrets calls this before acting (the web through its middleware,
    commands, worker tasks): it is the same remembered verdict. A database that cannot answer
    is not a mismatch; the caller's own queries will fail and say so.
    """
    try:
        problem = encryption_key_problem()
    except DatabaseError:
        return
    if problem is not None:
        raise KeyMismatchError(problem)


_refusal_logged: str | None = None


def encryption_key_refuses(logger: logging.Logger) -> bool:
    """True when this process must not act on secrets; the reason is logged once per process."""
    global _refusal_logged
    try:
        encryption_key_require()
    except KeyMismatchError as exc:
        if _refusal_logged != str(exc):
            _refusal_logged = str(exc)
            logger.error("%s", exc)
        return True
    _refusal_logged = None
    return False
