"""The Celery application: `celery -A frontconnect worker --beat` runs the background worker."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frontconnect.settings")

app = Celery("frontconnect")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
