"""Token connections left "Not authorized" (which means nothing for a token) become Not checked
yet, each with a transition, so that the worker checks them and the history says why."""

from django.db import migrations
from django.utils import timezone

REASON = "A Token connection is never Not authorized: its API token is Not checked yet."


def forwards(apps, schema_editor):
    Connection = apps.get_model("connections", "Connection")
    Transition = apps.get_model("connections", "Transition")
    rows = Connection.objects.filter(auth_type="token", status="not_authorized")
    now = timezone.now()
    Transition.objects.bulk_create(
        [
            Transition(
                connection_id=pk,
                connection_name=name,
                old_status="not_authorized",
                new_status="unchecked",
                reason=REASON,
                source="system",
                created_at=now,
            )
            for pk, name in rows.values_list("pk", "name").iterator()
        ],
        batch_size=1000,
    )
    rows.update(status="unchecked", last_checked_at=None, updated_at=now)


def backwards(apps, schema_editor):
    Connection = apps.get_model("connections", "Connection")
    Connection.objects.filter(auth_type="token", status="unchecked").update(status="not_authorized")


class Migration(migrations.Migration):
    dependencies = [("connections", "0014_unchecked_status")]

    operations = [migrations.RunPython(forwards, backwards)]
