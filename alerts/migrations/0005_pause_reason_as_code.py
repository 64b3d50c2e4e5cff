"""A webhook's pause reason stores a code and its parameters (``common.wording``), not English."""

from django.db import migrations, models

from common.wording import column_to_codes


class Migration(migrations.Migration):
    dependencies = [("alerts", "0004_webhook_events_standard")]

    operations = column_to_codes(
        "alerts.Webhook",
        "pause_reason",
        models.CharField(max_length=200, blank=True, editable=False),
    )
