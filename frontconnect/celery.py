"""The Celery application: `celery -A frontconnect worker` runs the background worker, and
`celery -A frontconnect beat` its one scheduler (`worker --beat` embeds it, as `make run` does)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frontconnect.settings")

app = Celery("frontconnect")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
@before_task_publish.connect
def broker_folders_create(sender: object = None, **kwargs: Any) -> None:
    """The embedded broker's folders exist in every process that sends or takes a task."""
    from common.broker import broker_folders_ensure

    broker_folders_ensure(app)
