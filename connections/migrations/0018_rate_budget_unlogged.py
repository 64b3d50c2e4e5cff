"""The rate budget skips PostgreSQL's write-ahead log: each claim commits without a disk wait."""

from django.db import migrations

from common.db import unlogged_table


class Migration(migrations.Migration):
    dependencies = [("connections", "0017_rate_budget_proxy_used")]

    operations = [unlogged_table("connections.RateBudget")]
