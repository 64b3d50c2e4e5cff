"""Issue 19 item 2: JSON logs with the request's ids, X-Request-ID kept into the worker, no secret.

Every test here writes records through the production formatter and filter (``common.logs``)
into a buffer, and reads the lines back as JSON.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.test import Client
from django.utils import timezone

from api import keys
from api.keys import apikey_create
from api.models import KeyScope, Permission
from common.logs import (
    JSON_FIELDS,
    ContextFilter,
    JsonFormatter,
    LogContext,
    RouteOnlyFilter,
    log_context,
)
from common.logs import _context as log_context_var
from connections import authorization, services
from connections.models import Connection, PendingAuthorization, Source, Status
from tests.conftest import API_TOKEN, CLIENT_SECRET
from tests.front_standin import standin_accept

ROOT = Path(__file__).resolve().parents[2]


class JsonLines:
    def __init__(self) -> None:
        self.buffer = io.StringIO()

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.text.splitlines()]

    def of(self, logger: str) -> list[dict[str, object]]:
        return [record for record in self.records() if record["logger"] == logger]


@pytest.fixture
def json_logs() -> Iterator[JsonLines]:
    """What the console handler writes with DJANGO_LOG_FORMAT=json, from every logger."""
    lines = JsonLines()
    handler = logging.StreamHandler(lines.buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(autouse=True)
def usage_written_on_flush_only(monkeypatch):
    """Proxy usage is written by a timer thread in production; nothing here needs it written."""
    monkeypatch.setattr(keys.proxy_usage, "interval", None)
    yield
    keys.proxy_usage._pending.clear()


@pytest.fixture
def every_logger_at_debug():
    loggers = [logging.getLogger(name) for name in ["", *logging.root.manager.loggerDict]]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


# --- X-Request-ID ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_callers_request_id_is_kept_and_answered():
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="trace-1234.abc:def_9")
    assert response["X-Request-ID"] == "trace-1234.abc:def_9"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "given", ["", "has space", "line\nbreak", 'quote"', "é", "a" * 129, "a/b", "{json}"]
)
def test_a_request_id_that_is_not_a_plain_id_is_replaced_by_a_new_uuid(given):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=given)
    answered = response["X-Request-ID"]
    assert answered != given
    assert uuid.UUID(answered).version == 4


@pytest.mark.django_db
def test_without_one_each_request_gets_its_own_id():
    first = Client().get("/healthz")["X-Request-ID"]
    second = Client().get("/healthz")["X-Request-ID"]
    assert first != second
    assert uuid.UUID(first).version == uuid.UUID(second).version == 4


# --- JSON lines --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_page_request_is_one_json_line_with_its_ids_and_duration(
    json_logs, owner, token_connection
):
    client = Client()
    client.force_login(owner)
    response = client.get(f"/connections/{token_connection.pk}/", HTTP_X_REQUEST_ID="page-req-1")
    assert response.status_code == 200
    for record in json_logs.records():
        assert set(record) <= set(JSON_FIELDS)
    (line,) = json_logs.of("frontconnect.request")
    assert line["message"] == "GET /connections/<int:pk>/ 200"
    assert line["level"] == "INFO"
    assert str(line["time"]).startswith(str(timezone.now().year))
    assert line["request_id"] == "page-req-1"
    assert line["user_id"] == owner.pk
    assert line["connection_id"] == token_connection.pk
    assert line["api_key_id"] is None
    assert isinstance(line["duration"], float) and line["duration"] >= 0


@pytest.mark.django_db
def test_static_files_and_unknown_paths_are_named_without_their_path(json_logs):
    assert Client().get("/static/admin/css/base.css").status_code == 200
    assert Client().get("/no-such-page/secret-looking-part").status_code == 404
    messages = [line["message"] for line in json_logs.of("frontconnect.request")]
    assert messages == ["GET (static file) 200", "GET (no route) 404"]
    (warning,) = json_logs.of("django.request")
    assert warning["message"] == "Not Found: (no route)"
    assert "secret-looking-part" not in json_logs.text


@pytest.mark.django_db
def test_an_authorization_links_secret_in_its_path_is_never_written(json_logs):
    secret = "link-SECRET-" + uuid.uuid4().hex
    response = Client().get(f"/authorization-links/{secret}/")
    assert response.status_code < 500
    (line,) = json_logs.of("frontconnect.request")
    assert line["message"].startswith("GET /authorization-links/<str:secret>/ ")
    assert secret not in json_logs.text


@pytest.mark.django_db
def test_an_api_request_names_its_key_and_the_keys_owner(json_logs, owner, token_connection):
    key = apikey_create(
        name="Integration", owner=owner, permissions=[Permission.READ], scope=KeyScope.USERS
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")
    response = client.get(f"/api/v1/connections/{token_connection.pk}/")
    assert response.status_code == 200
    (line,) = json_logs.of("frontconnect.request")
    assert line["api_key_id"] == key.key.pk
    assert line["user_id"] == owner.pk
    assert line["connection_id"] == token_connection.pk
    assert line["message"] == "GET /api/v1/connections/<pk>/ 200"
    assert key.plaintext not in json_logs.text


@pytest.mark.django_db
def test_a_teams_key_names_the_person_who_created_it(json_logs, operator, token_connection):
    from teams.models import Membership, Role, Team

    team = Team.objects.create(name="Ops")
    Membership.objects.create(team=team, user=operator, role=Role.ADMIN)
    Connection.objects.filter(pk=token_connection.pk).update(team=team)
    key = apikey_create(
        name="Team sync", owner=None, permissions=[Permission.READ], scope=KeyScope.TEAM,
        team=team, created_by=operator,
    )  # fmt: skip
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")
    assert client.get(f"/api/v1/connections/{token_connection.pk}/").status_code == 200
    (line,) = json_logs.of("frontconnect.request")
    assert (line["api_key_id"], line["user_id"]) == (key.key.pk, operator.pk)


@pytest.mark.django_db
def test_what_a_library_attaches_to_a_record_is_never_written(json_logs):
    """django.request attaches the request, whose text holds the query string (a code)."""
    response = Client().get("/oauth/callback/?code=CODE-SECRET-5555&state=STATE-SECRET-6666")
    assert response.status_code >= 400
    warnings = json_logs.of("django.request")
    assert warnings, "django.request logged the refusal"
    assert "CODE-SECRET-5555" not in json_logs.text
    assert "STATE-SECRET-6666" not in json_logs.text
    assert all("request" not in record for record in json_logs.records())


def test_the_development_servers_request_lines_name_the_route_without_path_or_query():
    server = logging.getLogger("django.server")
    lines = JsonLines()
    handler = logging.StreamHandler(lines.buffer)
    handler.setFormatter(JsonFormatter())
    server.addHandler(handler)
    try:
        for line in (
            "GET /oauth/callback/?code=CODE-SECRET-7777&state=s HTTP/1.1",
            "GET /connections/4242/ HTTP/1.1",
            "GET /no-such-page/secret-looking-part HTTP/1.1",
        ):
            server.info('"%s" %s %s', line, "200", "0")
    finally:
        server.removeHandler(handler)
    assert [line["message"] for line in lines.records()] == [
        '"GET /oauth/callback/ HTTP/1.1" 200 0',
        '"GET /connections/<int:pk>/ HTTP/1.1" 200 0',
        '"GET (no route) HTTP/1.1" 200 0',
    ]


# --- The production settings -----------------------------------------------------------------

BOOT = (
    "import environ; environ.Env.read_env = lambda *a, **k: None; "
    "import django; django.setup(); import logging; "
    "logging.getLogger('frontconnect.probe').warning('hello %s', 'world')"
)


def boot(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FRONT"))}
    clean.pop("DATABASE_URL", None)
    clean.update(
        env,
        DJANGO_SETTINGS_MODULE="frontconnect.settings",
        DJANGO_SECRET_KEY="s" * 60,
        FRONTCONNECT_ENCRYPTION_KEY="dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcy0hISE=",
        FRONTCONNECT_METRICS_DIR=str(tmp / "metrics"),
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", BOOT], cwd=tmp, env=clean, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_django_log_format_json_writes_one_json_object_per_line(tmp_path):
    result = boot(tmp_path, DJANGO_LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.strip().splitlines()
    record = json.loads(line)
    assert record["message"] == "hello world"
    assert record["level"] == "WARNING"
    assert record["logger"] == "frontconnect.probe"
    assert record["request_id"] is None and "time" in record


def test_the_text_format_stays_the_default(tmp_path):
    result = boot(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("WARNING frontconnect.probe hello world")


def test_an_unknown_log_format_stops_start_up_with_one_sentence(tmp_path):
    result = boot(tmp_path, DJANGO_LOG_FORMAT="xml")
    assert result.returncode == 1
    assert result.stderr.strip() == "DJANGO_LOG_FORMAT must be one of TEXT, JSON."


# --- Into the worker -------------------------------------------------------------------------


@pytest.fixture
def memory_app() -> Iterator[Celery]:
    app = Celery("frontconnect-log-test", broker="memory://")
    app.conf.update(
        task_always_eager=False, task_ignore_result=True, worker_hijack_root_logger=False
    )
    yield app


def test_a_task_queued_by_a_request_logs_with_that_requests_id_in_the_worker(memory_app):
    seen: dict[str, LogContext] = {}
    done = threading.Event()
    # On the task's own logger: a worker starting may set up the root logger its own way.
    json_logs = JsonLines()
    handler = logging.StreamHandler(json_logs.buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logging.getLogger("frontconnect.probe").addHandler(handler)

    @memory_app.task(name="frontconnect_log_test.probe")
    def probe(connection_id: int) -> None:
        seen["context"] = log_context()
        logging.getLogger("frontconnect.probe").warning("checking")
        done.set()

    with start_worker(memory_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        token = log_context_var.set(LogContext(request_id="req-from-web-1", user_id=7))
        try:
            probe.delay(42)
        finally:
            log_context_var.reset(token)
        assert done.wait(20)
    # The worker's thread knew nothing of the web's context: the id came in the message.
    assert seen["context"].request_id == "req-from-web-1"
    assert seen["context"].connection_id == 42
    logging.getLogger("frontconnect.probe").removeHandler(handler)
    (line,) = json_logs.of("frontconnect.probe")
    assert line["request_id"] == "req-from-web-1"
    assert line["connection_id"] == 42


def test_a_task_run_in_place_keeps_the_requests_ids_and_gives_them_back(memory_app):
    memory_app.conf.task_always_eager = True
    inside: list[LogContext] = []

    @memory_app.task(name="frontconnect_log_test.eager")
    def eager(connection_id: int) -> None:
        inside.append(log_context())

    token = log_context_var.set(LogContext(request_id="req-eager-1", user_id=3))
    try:
        eager.delay(5)
        after = log_context()
    finally:
        log_context_var.reset(token)
    assert inside[0].request_id == "req-eager-1" and inside[0].user_id == 3
    assert inside[0].connection_id == 5
    assert after == LogContext(request_id="req-eager-1", user_id=3)


# --- No secret anywhere ---------------------------------------------------------------------


@pytest.mark.django_db
def test_no_secret_in_any_field_with_every_logger_at_debug(
    json_logs, every_logger_at_debug, front_settings, oauth_connection, owner, settings
):
    """Authorize, refresh, check and proxy through the JSON logs at DEBUG: no secret appears."""
    metrics_token = "metrics-token-SECRET-abcdefghijklmnop"
    settings.FRONTCONNECT_METRICS_TOKEN = metrics_token
    client = Client(HTTP_X_REQUEST_ID="no-secret-run-1")
    client.force_login(owner)
    url = authorization.connection_authorize_start(
        connection=oauth_connection,
        user=owner,
        session=client.session,
        return_url=f"/connections/{oauth_connection.pk}/",
        source=Source.SELF_SERVICE,
    )
    verifier = PendingAuthorization.objects.get().code_verifier
    state = parse_qs(urlsplit(url).query)["state"][0]
    callback = standin_accept(url)
    assert client.get(callback).status_code == 303
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.ONLINE
    first_access, first_refresh = oauth_connection.access_token, oauth_connection.refresh_token

    Connection.objects.filter(pk=oauth_connection.pk).update(
        access_token_expires_at=timezone.now() - timedelta(minutes=1)
    )
    oauth_connection.refresh_from_db()
    services.connection_refresh(connection=oauth_connection, actor=owner, source=Source.ADMIN)
    oauth_connection.refresh_from_db()
    services.connection_test(connection=oauth_connection, actor=owner, source=Source.ADMIN)

    key = apikey_create(
        name="Integration", owner=owner, permissions=[Permission.PROXY], scope=KeyScope.USERS
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}", HTTP_X_REQUEST_ID="proxy-run-1")
    proxied = api.get(f"/api/v1/connections/{oauth_connection.pk}/front/me")
    assert proxied.status_code == 200
    b"".join(proxied.streaming_content)
    scraped = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
    assert scraped.status_code == 200

    text = json_logs.text
    assert "urllib3" in text  # the HTTP library really logged at DEBUG
    assert '"request_id": "proxy-run-1"' in text
    assert "GET /api/v1/connections/<pk>/front/<front_path> 200" in text
    secrets = [
        CLIENT_SECRET,
        API_TOKEN,
        state,
        verifier,
        *front_settings.issued_codes,
        first_access,
        first_refresh,
        oauth_connection.access_token,
        oauth_connection.refresh_token,
        key.plaintext,
        metrics_token,
    ]
    assert len(front_settings.issued_codes) == 1 and all(secrets)
    assert first_refresh != oauth_connection.refresh_token
    for secret in secrets:
        assert secret not in text
    assert "Authorization" not in text and "Basic " not in text and "Bearer" not in text


GUNICORN_LOGS = (
    "import runpy; from gunicorn.config import Config; from gunicorn.glogging import Logger; "
    "hooks = runpy.run_path('gunicorn.conf.py'); config = Config(); "
    "config.set('logconfig_dict', hooks.get('logconfig_dict', {})); "
    "Logger(config).info('Booting worker with pid: %s', 4242)"
)


@pytest.mark.parametrize(("log_format", "json_lines"), [("json", True), ("text", False)])
def test_gunicorns_own_lines_follow_the_log_format(log_format, json_lines):
    env = {**os.environ, "DJANGO_LOG_FORMAT": log_format, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", GUNICORN_LOGS], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=60, check=True,
    )  # fmt: skip
    (line,) = (result.stdout + result.stderr).strip().splitlines()
    if json_lines:
        record = json.loads(line)
        assert record["message"] == "Booting worker with pid: 4242"
        assert record["logger"] == "gunicorn.error" and record["level"] == "INFO"
    else:
        assert line.endswith("[INFO] Booting worker with pid: 4242")


def test_the_route_filter_changes_a_record_once_however_often_logging_was_configured():
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"%s" %s %s',
        ("GET /connections/4242/ HTTP/1.1", "200", "0"), None,
    )  # fmt: skip
    first, second = RouteOnlyFilter(), RouteOnlyFilter()
    assert first.filter(record) and second.filter(record)
    assert record.getMessage() == '"GET /connections/<int:pk>/ HTTP/1.1" 200 0'
