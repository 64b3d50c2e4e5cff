"""Broker outages are visible and lose nothing (issue 16 item 5).

/healthz and the dashboard report the broker; a task the broker cannot take is one log line and
the work is found again from the database; the embedded broker creates its folders in whichever
process sends a task; kombu's "No hostname was supplied" stays out of the operator's terminal.
"""

from __future__ import annotations

import html
import io
import json
import logging
import logging.config
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from kombu import Connection as KombuConnection
from kombu.exceptions import OperationalError

from alerts.models import Webhook
from common.broker import broker_state, task_dispatch
from connections import tasks
from connections.beat import scheduler_lock_take
from connections.models import Source, Status
from connections.status import connection_status_set
from connections.upkeep import heartbeat_record
from frontconnect.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
SWAPPED = ("broker_url", "broker_transport_options", "task_always_eager")


@pytest.fixture
def celery_conf() -> Iterator[dict[str, object]]:
    """Change the project's Celery settings for one test (they are read from Django's, by the
    CELERY_ names that take precedence)."""
    conf = celery_app.conf
    saved = {name: conf[f"CELERY_{name.upper()}"] for name in SWAPPED}
    changes: dict[str, object] = {}
    yield changes
    for name, value in saved.items():
        conf[f"CELERY_{name.upper()}"] = value


def conf_set(**values: object) -> None:
    for name, value in values.items():
        celery_app.conf[f"CELERY_{name.upper()}"] = value


@pytest.fixture
def embedded_broker(tmp_path, celery_conf) -> Path:
    """The project's app on the embedded broker in a fresh folder, sending for real."""
    base = tmp_path / "celery"
    conf_set(
        broker_url="filesystem://",
        broker_transport_options={
            "data_folder_in": str(base / "queue"),
            "data_folder_out": str(base / "queue"),
            "processed_folder": str(base / "processed"),
            "control_folder": str(base / "control"),
            "store_processed": False,
        },
        task_always_eager=False,
    )
    assert celery_app.conf.broker_transport_options["data_folder_in"] == str(base / "queue")
    return base


def test_a_task_sent_by_any_process_creates_the_embedded_brokers_folders(embedded_broker):
    assert not embedded_broker.exists()  # no worker ever started here
    with celery_app.connection_for_write() as connection:
        assert task_dispatch(tasks.heartbeat, connection=connection) is True
    assert len(list((embedded_broker / "queue").iterdir())) == 1


def test_healthz_counts_the_embedded_broker_ok_when_its_folders_are_writable(embedded_broker):
    assert broker_state() == "ok"
    assert (embedded_broker / "queue").is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_embedded_broker_folder_is_reported(embedded_broker):
    (embedded_broker / "queue").mkdir(parents=True)
    (embedded_broker / "queue").chmod(0o500)
    try:
        assert str(broker_state()).endswith("queue is not writable")
    finally:
        (embedded_broker / "queue").chmod(0o700)


@pytest.fixture
def silent_broker(celery_conf) -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers (a hung broker)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        conf_set(broker_url=f"redis://127.0.0.1:{server.getsockname()[1]}/0")
        assert celery_app.conf.broker_url.startswith("redis://127.0.0.1:")
        yield celery_app.conf.broker_url


@pytest.mark.django_db
def test_healthz_and_the_dashboard_report_a_broker_that_does_not_answer(
    client, operator_client, silent_broker
):
    heartbeat_record()
    scheduler_lock_take("beat on host (pid 1)")
    started = time.monotonic()
    response = client.get("/healthz")
    assert time.monotonic() - started < 5  # a short timeout, not the client's default
    assert response.status_code == 503
    expected = (
        "unreachable: the broker did not answer within 2 seconds (OperationalError); "
        "tasks are not being queued"
    )
    # /healthz is for monitors: English, whatever the request's language.
    french = client.get("/healthz", headers={"accept-language": "fr"})
    assert response.json()["broker"] == french.json()["broker"] == expected
    assert expected in operator_client.get("/admin/").content.decode()
    # The dashboard is for people: in the reader's language.
    page = operator_client.get("/admin/", headers={"accept-language": "fr"}).content.decode()
    assert (
        "injoignable\u00a0: le broker n\u2019a pas répondu en 2 secondes (OperationalError)"
        in html.unescape(page)
    )


@pytest.mark.django_db
def test_a_failed_dispatch_is_one_line_and_the_sweep_queues_it_again(
    token_connection, caplog, django_capture_on_commit_callbacks, monkeypatch
):
    from alerts import services

    Webhook.objects.create(name="Ops", url="https://hooks.example.com/x", statuses=["offline"])
    from alerts import tasks as alert_tasks

    notify = celery_app.tasks[alert_tasks.transition_notify.name]
    deliver = celery_app.tasks[alert_tasks.webhook_deliver.name]
    refused = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    queued: list[str] = []

    def down(args=None, kwargs=None, **options):
        raise refused

    with caplog.at_level(logging.INFO):
        monkeypatch.setattr(notify, "apply_async", down)
        monkeypatch.setattr(deliver, "apply_async", down)
        with django_capture_on_commit_callbacks(execute=True):
            transition = connection_status_set(
                connection=token_connection,
                status=Status.OFFLINE,
                reason="Front refused the token.",
                source=Source.WORKER,
            )
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert all(r.exc_info is None for r in problems)  # no traceback
    assert [r.getMessage() for r in problems] == [
        "Could not queue alerts.tasks.transition_notify: the broker refused it "
        "(OperationalError: Error 111 connecting to 127.0.0.1:6379. Connection refused.); "
        "the next periodic sweep queues this work again.",
        "Could not queue alerts.tasks.webhook_deliver: the broker refused it "
        "(OperationalError: Error 111 connecting to 127.0.0.1:6379. Connection refused.); "
        "the next periodic sweep queues this work again.",
    ]
    # The broker is back: the sweep (every 2 minutes) finds both again within its grace.
    monkeypatch.undo()

    def record(args=None, kwargs=None, **options):
        queued.append("notify" if args and len(args) == 1 else "deliver")

    monkeypatch.setattr(notify, "apply_async", record)
    monkeypatch.setattr(deliver, "apply_async", record)
    later = transition.created_at + services.REDISPATCH_GRACE + timedelta(seconds=1)
    assert alert_tasks.transitions_requeue(now=later) == 2
    assert sorted(queued) == ["deliver", "notify"]


def test_the_lost_dispatch_sweep_runs_every_two_minutes():
    from alerts.services import REDISPATCH_GRACE
    from connections.schedules import DEFAULT_SCHEDULES

    (sweep,) = [s for s in DEFAULT_SCHEDULES if s.task == "alerts.tasks.transitions_redispatch"]
    assert (sweep.every, sweep.period) == (2, "minutes")
    assert REDISPATCH_GRACE.total_seconds() <= 60


def test_kombus_no_hostname_warning_stays_out_of_the_terminal():
    stream = io.StringIO()
    config = json.loads(json.dumps(django_settings.LOGGING))
    config["handlers"]["console"]["stream"] = "ext://sys.stderr"
    logging.config.dictConfig(config)
    console = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    console.setStream(stream)
    try:
        KombuConnection("filesystem://").as_uri()  # kombu warns: no hostname was supplied
        logging.getLogger("kombu.connection").warning("Something else")
    finally:
        logging.config.dictConfig(django_settings.LOGGING)
    assert "No hostname was supplied" not in stream.getvalue()
    assert "Something else" in stream.getvalue()


BOOT = (
    "import environ; environ.Env.read_env = lambda *a, **k: None; "
    "import django; django.setup(); from django.conf import settings; "
    "from connections import tasks; "
    "print(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get('visibility_timeout'), "
    "tasks.refresh_connection.acks_late, tasks.check_connection.acks_late)"
)


def test_a_killed_workers_tasks_come_back_in_minutes_on_redis(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FRONT"))}
    clean.pop("DATABASE_URL", None)
    clean.update(
        DJANGO_SETTINGS_MODULE="frontconnect.settings",
        DJANGO_SECRET_KEY="s" * 60,
        FRONTCONNECT_ENCRYPTION_KEY="dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcy0hISE=",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [sys.executable, "-c", BOOT],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["300", "True", "True"]
