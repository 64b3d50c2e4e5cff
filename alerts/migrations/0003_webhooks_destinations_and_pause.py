"""Webhook URLs stored encrypted (their host shown instead), pausing after failures, skipped calls."""

from urllib.parse import urlsplit

from django.db import migrations, models

import alerts.destinations
import common.crypto


def _host(url):
    parts = urlsplit(url)
    try:
        return (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return ""


def seal_urls(apps, schema_editor):
    Webhook = apps.get_model("alerts", "Webhook")
    for webhook in Webhook.objects.all().only("pk", "url"):
        Webhook.objects.filter(pk=webhook.pk).update(
            sealed_url=webhook.url, host=_host(webhook.url)
        )


def unseal_urls(apps, schema_editor):
    Webhook = apps.get_model("alerts", "Webhook")
    for webhook in Webhook.objects.all():
        Webhook.objects.filter(pk=webhook.pk).update(url=str(webhook.sealed_url))


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0002_lapse_warnings"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhook",
            name="host",
            field=models.CharField(blank=True, editable=False, max_length=300),
        ),
        migrations.AddField(
            model_name="webhook",
            name="sealed_url",
            field=common.crypto.EncryptedTextField(blank=True, default="", verbose_name="URL"),
        ),
        migrations.RunPython(seal_urls, unseal_urls),
        # A default, so that going back can add the plain column again to existing rows.
        migrations.AlterField(
            model_name="webhook",
            name="url",
            field=models.URLField(default="", max_length=500, verbose_name="URL"),
        ),
        migrations.RemoveField(model_name="webhook", name="url"),
        migrations.RenameField(model_name="webhook", old_name="sealed_url", new_name="url"),
        migrations.AlterField(
            model_name="webhook",
            name="url",
            field=common.crypto.EncryptedTextField(
                blank=True,
                default="",
                validators=[alerts.destinations.webhook_url_validate],
                verbose_name="URL",
            ),
        ),
        migrations.AddField(
            model_name="webhook",
            name="consecutive_failures",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="webhook",
            name="paused_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="paused"
            ),
        ),
        migrations.AddField(
            model_name="webhook",
            name="pause_reason",
            field=models.CharField(blank=True, editable=False, max_length=200),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="skipped_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
