"""Why a notice was skipped and how a webhook call went are stored as codes (common.wording)."""

from django.db import migrations, models

from common.wording import column_to_codes


class Migration(migrations.Migration):
    dependencies = [("alerts", "0006_translatable_labels")]

    operations = [
        *column_to_codes(
            "alerts.Notification", "note", models.CharField("note", max_length=200, blank=True)
        ),
        *column_to_codes(
            "alerts.LapseWarning", "note", models.CharField("note", max_length=200, blank=True)
        ),
        *column_to_codes(
            "alerts.WebhookDelivery", "error", models.CharField("error", max_length=200, blank=True)
        ),
    ]
