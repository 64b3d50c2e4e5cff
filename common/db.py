"""Database helpers the apps share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, transaction


@contextmanager
def unsynced_commit(using: str) -> Iterator[None]:
    """On PostgreSQL, commit the block's writes without waiting for the disk.

    For short-lived bookkeeping (a rate budget, a proxy slot's lease): losing its last writes to
    a crash costs nothing, while waiting for an fsync on each one made commits the slowest part
    of a concurrent call. Inside a caller's transaction nothing changes (its durability is not
    ours to lower).
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
