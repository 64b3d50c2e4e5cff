"""Refuse control characters in names; compare connection names in one normalised form (NFKC, case-folded, invisible characters
removed) on every database, instead of SQLite's ASCII-only ``lower()``.

Existing rows get their key; two names of one owner that only now count as the same (``Acme``
and ``ＡＣＭＥ``) keep both rows: the later one is renamed ``<name> (2)``, ``(3)``…
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations, models

import common.text
import connections.models
from common.text import name_key


def fill_name_keys(apps: Any, schema_editor: Any) -> None:
    Connection = apps.get_model("connections", "Connection")
    taken: set[tuple[int, str]] = set()
    rows = Connection.objects.order_by("owner_id", "pk").values_list("pk", "owner_id", "name")
    for pk, owner_id, name in rows.iterator(chunk_size=1000):
        new_name, key, n = name, name_key(name), 1
        while (owner_id, key) in taken:
            n += 1
            suffix = f" ({n})"
            new_name = name[: 100 - len(suffix)] + suffix
            key = name_key(new_name)
        taken.add((owner_id, key))
        Connection.objects.filter(pk=pk).update(name=new_name, name_key=key)


class Migration(migrations.Migration):
    # Rows are updated between two schema changes of the same table; PostgreSQL refuses that in
    # one transaction ("pending trigger events"), so each operation commits on its own.
    atomic = False

    dependencies = [
        ("connections", "0005_refresh_lease_and_unreachable_since"),
        ("oauthclients", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="connection",
            name="company_name",
            field=models.CharField(
                max_length=200,
                validators=[common.text.PlainTextValidator()],
                verbose_name="Company name",
            ),
        ),
        migrations.AlterField(
            model_name="connection",
            name="name",
            field=models.CharField(
                max_length=100,
                validators=[common.text.PlainTextValidator()],
                verbose_name="Name your connection",
            ),
        ),
        migrations.AlterField(
            model_name="scope",
            name="description",
            field=models.CharField(
                blank=True, max_length=255, validators=[common.text.PlainTextValidator()]
            ),
        ),
        migrations.RemoveConstraint(
            model_name="connection",
            name="connection_name_unique_per_owner",
        ),
        migrations.AddField(
            model_name="connection",
            name="name_key",
            field=connections.models.NameKeyField(default="", editable=False, max_length=400),
        ),
        migrations.RunPython(fill_name_keys, migrations.RunPython.noop, atomic=True),
        migrations.AddConstraint(
            model_name="connection",
            constraint=models.UniqueConstraint(
                fields=("owner", "name_key"),
                name="connection_name_key_unique_per_owner",
                violation_error_message="You already have a connection with this name.",
            ),
        ),
    ]
