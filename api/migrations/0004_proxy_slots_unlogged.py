"""Proxy slots skip PostgreSQL's write-ahead log: taking and freeing one is a single statement."""

from django.db import migrations

from common.db import unlogged_table


class Migration(migrations.Migration):
    dependencies = [("api", "0003_proxy_slots")]

    operations = [unlogged_table("api.ProxySlot")]
