"""The Celery broker from the application's side: queue a task, and say whether the broker works.

Work that must happen is found again from the database by a periodic sweep (due checks, due
refreshes, alerts whose dispatch was lost), so a message the broker could not take is not lost:
``task_dispatch`` logs one line and leaves the work to the next sweep, instead of a traceback in
the operator's terminal or a failed request.

The embedded broker (``CELERY_BROKER_URL=filesystem://``, what ``make run`` uses) keeps messages
in folders; ``broker_folders_ensure`` creates them in whichever process sends the first task (a
management command, a web server), not only in the one that started the worker.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery import Celery, current_app
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import KombuError

from common.wording import Said, said, sentences

logger = logging.getLogger(__name__)

OK = "ok"

# What /healthz says of the broker (English there; worded in the reader's language on the
# dashboard, common.wording).
SENTENCES = sentences(
    {
        "broker.folders_failed": _("the embedded broker's folders cannot be created (%(error)s)"),
        "broker.folder_read_only": _("the embedded broker's folder %(folder)s is not writable"),
        "broker.unreachable": _(
            "unreachable: the broker did not answer within %(seconds)s (%(error)s); tasks are "
            "not being queued"
        ),
    }
)
# /healthz answers within a few seconds even when the broker's host does not.
BROKER_TIMEOUT_SECONDS = 2.0
EMBEDDED_SCHEME = "filesystem://"


def _embedded_folders(app: Celery) -> list[Path]:
    if not str(app.conf.broker_url or "").startswith(EMBEDDED_SCHEME):
        return []
    options = app.conf.broker_transport_options or {}
    names = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")
    return sorted({Path(options[name]) for name in names if options.get(name)})


def broker_folders_ensure(app: Celery[Any] | None = None) -> None:
    """Create the embedded broker's folders if this process uses that broker."""
    for folder in _embedded_folders(app or current_app):
        folder.mkdir(parents=True, exist_ok=True)


def task_dispatch(task: Any, *args: Any, **options: Any) -> bool:
    """Queue ``task`` with ``args``; on a broker failure log one line and return False.

    The caller's work stays findable in the database, so the next periodic sweep queues it again.
    ``options`` are ``apply_async`` options (``countdown``, ``queue``...).
    """
    try:
        task.apply_async(args, **options)
    except (KombuError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        logger.warning(
            "Could not queue %s: the broker refused it (%s%s); the next periodic sweep queues "
            "this work again.",
            task.name,
            type(exc).__name__,
            f": {detail}" if detail else "",
        )
        return False
    return True


def broker_state(
    app: Celery[Any] | None = None, *, timeout: float = BROKER_TIMEOUT_SECONDS
) -> str | Said:
    """``ok`` when the broker takes messages, else one sentence saying why (for /healthz)."""
    app = app or current_app
    folders = _embedded_folders(app)
    if folders:
        try:
            broker_folders_ensure(app)
        except OSError as exc:
            return said("broker.folders_failed", error=type(exc).__name__)
        for folder in folders:
            probe = folder / ".healthz"
            try:
                probe.write_bytes(b"")
                probe.unlink()
            except OSError:
                return said("broker.folder_read_only", folder=str(folder))
        return OK
    try:
        options = {
            **(app.conf.broker_transport_options or {}),
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
        }
        with app.connection_for_write(
            connect_timeout=timeout, transport_options=options
        ) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=int(timeout))
            connection.default_channel  # noqa: B018  (opening a channel asks the broker)
    except Exception as exc:  # any failure to reach the broker is the answer, not an error
        return said("broker.unreachable", seconds=timeout, error=type(exc).__name__)
    return OK


class NoHostnameFilter(logging.Filter):
    """Drop kombu's "No hostname was supplied" warning: the embedded broker needs no host."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No hostname was supplied")
