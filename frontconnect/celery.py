"""The Celery application: `celery -A frontconnect worker` runs the background worker, and
`celery -A frontconnect beat` its one scheduler (`worker --beat` embeds it, as `make run` does)."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, Task
from celery.signals import before_task_publish

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frontconnect.settings")

logger = logging.getLogger("frontconnect.worker")


class KeyCheckedTask(Task):
    """Every task of this app: skipped while the encryption key cannot read the database.

    A worker with the wrong key would read every secret as unreadable; acting on that would
    mark connections Offline and email their owners. The task does nothing and records
    nothing; the reason is logged once per process (``connections.keys``, the same remembered
    verdict as the web's middleware and the commands).
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from connections.keys import encryption_key_refuses

        if encryption_key_refuses(logger):
            return None
        return super().__call__(*args, **kwargs)


app = Celery("frontconnect", task_cls=KeyCheckedTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
@before_task_publish.connect
def broker_folders_create(sender: object = None, **kwargs: Any) -> None:
    """The embedded broker's folders exist in every process that sends or takes a task."""
    from common.broker import broker_folders_ensure

    broker_folders_ensure(app)
