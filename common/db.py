"""Database helpers the apps share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import migrations

# The largest id a database column holds (64-bit); a larger one is no id at all. SQLite cannot
# even bind it as a parameter (OverflowError), so forms and URLs refuse it before any query.
MAX_ID = 2**63 - 1


def unlogged_table(model: str) -> migrations.RunPython:
    """A migration operation: on PostgreSQL, ``model``'s table skips the write-ahead log.

    For short-lived bookkeeping (a rate budget, a proxy slot's lease) written on every proxied
    call: a transaction that writes only unlogged tables commits without waiting for the disk,
    so each write is one statement. PostgreSQL empties such a table after a crash and does not
    copy it to standbys, which costs nothing that matters here. Other databases are unchanged.
    """

    def persistence(mode: str) -> Callable[[Any, Any], None]:
        def change(apps: Any, schema_editor: Any) -> None:
            if schema_editor.connection.vendor != "postgresql":
                return
            table = apps.get_model(*model.split(".", 1))._meta.db_table
            schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} SET {mode}")

        return change

    return migrations.RunPython(persistence("UNLOGGED"), persistence("LOGGED"), elidable=False)
