"""A real Celery worker on the real Redis broker runs a check task end to end.

The worker runs in this process (celery.contrib.testing.worker.start_worker), so it sees the
test database; the broker is the Redis at 127.0.0.1:6379 (FRONTCONNECT_TEST_REDIS_URL, default
database 1). Without Redis the test is skipped, except where FRONTCONNECT_REQUIRE_REDIS is set
(CI), where it fails.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings
from django.db import connections

from connections.models import Status, WorkerHeartbeat

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

REDIS_URL = os.environ.get("FRONTCONNECT_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")


@pytest.fixture
def redis_app() -> Iterator[Celery]:
    """A Celery app like frontconnect's, on the Redis broker, with a queue of its own."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        reason = f"Redis is not answering at {REDIS_URL} ({type(exc).__name__})"
        if os.environ.get("FRONTCONNECT_REQUIRE_REDIS"):
            pytest.fail(f"{reason}, and FRONTCONNECT_REQUIRE_REDIS is set.")
        pytest.skip(f"{reason}: start redis-server to run the worker tests.")
    queue = f"frontconnect-test-{uuid.uuid4().hex[:8]}"
    # The settings' CELERY_* values, but on Redis, not eager, on a queue of this test's own.
    app = Celery("frontconnect-redis-test", broker=REDIS_URL)
    app.conf.update(
        task_serializer=settings.CELERY_TASK_SERIALIZER,
        accept_content=settings.CELERY_ACCEPT_CONTENT,
        task_ignore_result=True,
        task_always_eager=False,
        task_default_queue=queue,
        worker_hijack_root_logger=False,
    )
    app.autodiscover_tasks(["connections"], force=True)
    yield app
    with app.connection_for_write() as connection:
        connection.default_channel.queue_delete(queue)
    redis.Redis.from_url(REDIS_URL).delete(f"_kombu.binding.{queue}")


def test_a_worker_on_redis_runs_a_check_task(redis_app, front_settings, token_connection):
    ran: set[str] = set()
    done = threading.Event()

    def finished(sender=None, task_id=None, **kwargs) -> None:
        # The worker thread's database connection must not outlive the test's database.
        connections.close_all()
        ran.add(sender.name)
        if {"connections.tasks.check_connection", "connections.tasks.heartbeat"} <= ran:
            done.set()

    task_postrun.connect(finished, weak=False)
    try:
        with start_worker(
            redis_app, pool="solo", perform_ping_check=False, loglevel="WARNING",
            shutdown_timeout=10,
        ):  # fmt: skip
            redis_app.send_task("connections.tasks.check_connection", args=[token_connection.pk])
            redis_app.send_task("connections.tasks.heartbeat")
            assert done.wait(timeout=30), f"the worker ran only {sorted(ran)} within 30 s"
    finally:
        task_postrun.disconnect(finished)
    token_connection.refresh_from_db()
    assert token_connection.status == Status.ONLINE
    assert front_settings.me_requests == 1
    assert WorkerHeartbeat.objects.exists()


def test_refreshes_lost_with_a_broker_restarted_empty_are_found_again(
    redis_app, front_settings, oauth_connection
):
    """Redis came back empty between the scan and the worker: the next scan queues the work
    again, with no countdown held in the broker, and the token is refreshed once."""
    import redis
    from django.utils import timezone

    from connections import tasks
    from connections.tokens import token_digest
    from connections.upkeep import connection_mark_used
    from frontconnect.celery import app as project_app

    seeded = front_settings.issue()
    oauth_connection.access_token = str(seeded["access_token"])
    oauth_connection.refresh_token = str(seeded["refresh_token"])
    oauth_connection.refresh_token_digest = token_digest(str(seeded["refresh_token"]))
    oauth_connection.access_token_expires_at = timezone.now() + timedelta(minutes=3)
    oauth_connection.authorized_at = timezone.now() - timedelta(days=1)
    oauth_connection.status = Status.ONLINE
    oauth_connection.save()
    connection_mark_used(oauth_connection)
    queue = redis_app.conf.task_default_queue
    broker = redis.Redis.from_url(REDIS_URL)

    redis_app.set_current()  # the tasks' shared proxies now send through the Redis app
    try:
        assert tasks.refresh_due() == 1
        (message,) = [json.loads(raw) for raw in broker.lrange(queue, 0, -1)]
        assert message["headers"]["task"] == "connections.tasks.refresh_connection"
        assert message["headers"]["eta"] is None  # nothing waits inside the broker
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        assert (args, kwargs) == ([oauth_connection.pk], {})  # an id, never a token
        broker.delete(queue)  # the broker restarts empty: the message is gone
        assert tasks.refresh_due() == 1  # found again from the database
        assert broker.llen(queue) == 1

        refreshed = threading.Event()

        def finished(sender=None, **kwargs) -> None:
            connections.close_all()
            if sender.name == "connections.tasks.refresh_connection":
                refreshed.set()

        task_postrun.connect(finished, weak=False)
        try:
            with start_worker(
                redis_app, pool="solo", perform_ping_check=False, loglevel="WARNING",
                shutdown_timeout=10,
            ):  # fmt: skip
                assert refreshed.wait(timeout=30), "the worker did not run the refresh"
        finally:
            task_postrun.disconnect(finished)
    finally:
        project_app.set_current()
    assert front_settings.refresh_count() == 1
    oauth_connection.refresh_from_db()
    assert oauth_connection.access_token_expires_at > timezone.now() + timedelta(minutes=30)
    assert tasks.refresh_due() == 0  # done: nothing left to find
