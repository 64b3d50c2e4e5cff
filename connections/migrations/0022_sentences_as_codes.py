"""History entries, status changes, check results and link results store codes, not English.

Each stored sentence becomes its code and parameters (``common.wording``), so it is shown in the
reader's language; a sentence that matches no known one is kept as its text.
"""

from django.db import migrations, models

from common.wording import column_to_codes


class Migration(migrations.Migration):
    dependencies = [("connections", "0021_team_connections")]

    operations = [
        *column_to_codes(
            "connections.Connection",
            "last_check_result",
            models.CharField("last check result", max_length=500, blank=True),
        ),
        *column_to_codes(
            "connections.Event", "message", models.CharField(max_length=500, blank=True)
        ),
        *column_to_codes(
            "connections.Transition", "reason", models.CharField(max_length=500, blank=True)
        ),
        *column_to_codes(
            "connections.AuthorizationLink",
            "result_reason",
            models.CharField(max_length=500, blank=True),
        ),
    ]
