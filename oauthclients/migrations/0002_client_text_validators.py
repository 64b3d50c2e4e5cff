"""Client names refuse control characters; client IDs accept only printable ASCII."""

from __future__ import annotations

from django.db import migrations, models

import common.text


class Migration(migrations.Migration):
    dependencies = [
        ("oauthclients", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="oauthclient",
            name="client_id",
            field=models.CharField(
                max_length=255,
                validators=[common.text.SecretTextValidator("The client ID")],
                verbose_name="Client ID",
            ),
        ),
        migrations.AlterField(
            model_name="oauthclient",
            name="name",
            field=models.CharField(
                max_length=100,
                unique=True,
                validators=[common.text.PlainTextValidator()],
                verbose_name="Name",
            ),
        ),
    ]
