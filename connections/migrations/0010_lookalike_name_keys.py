"""Names compare cross-script look-alikes too (``Аcme`` with a Cyrillic А is ``Acme``).

Existing rows get the new key; a name of one owner that only now collides is renamed
``<name> (2)``, as migration 0006 did.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from connections.rules import name_keys_refill


def refill(apps: Any, schema_editor: Any) -> None:
    name_keys_refill(apps.get_model("connections", "Connection"))


class Migration(migrations.Migration):
    dependencies = [("connections", "0009_removal")]

    operations = [migrations.RunPython(refill, migrations.RunPython.noop)]
