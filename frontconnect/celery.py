"""The Celery application: `celery -A frontconnect worker` runs the background worker, and
`celery -A frontconnect beat` its one scheduler (`worker --beat` embeds it, as `make run` does)."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, Task
from celery.signals import (
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_process_shutdown,
)

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


@before_task_publish.connect
def request_id_send(sender: object = None, **kwargs: Any) -> None:
    """The request's id goes with every task it queues (common.logs)."""
    from common.logs import task_headers_add

    task_headers_add(**kwargs)


@task_prerun.connect
def task_context_enter(sender: object = None, **kwargs: Any) -> None:
    """The worker's log records of a task carry the id of the request that queued it."""
    from common.logs import task_context_enter

    task_context_enter(**kwargs)


@task_postrun.connect
def task_context_exit(sender: object = None, **kwargs: Any) -> None:
    from common.logs import task_context_exit

    task_context_exit(**kwargs)


@worker_process_shutdown.connect
def metrics_process_ended(pid: int | None = None, **kwargs: Any) -> None:
    """A pool process ends: its live metrics files go (common.metrics)."""
    from common.metrics import process_ended

    process_ended(pid or os.getpid())
