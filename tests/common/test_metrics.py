"""Issue 19 item 1: /metrics in Prometheus' text format, behind FRONTCONNECT_METRICS_TOKEN.

The counters move after a check, a refresh and a proxied call (Front mocked with ``responses``);
several processes counting into one folder are added up; the token is enforced.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import responses
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from api import keys
from api.keys import apikey_create
from api.models import KeyScope, Permission
from common import metrics
from connections import ratelimit, services
from connections.front import FrontError
from connections.models import Connection, Source, Status
from connections.upkeep import heartbeat_record
from tests.conftest import API_TOKEN, CLIENT_SECRET, closed_port

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-SECRET-0123456789abcdef"
FRONT = "https://api2.frontapp.com"
RATE = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "99"}


@pytest.fixture
def scrape(settings):
    """GET /metrics with the token; the samples by (name, sorted labels)."""
    settings.FRONTCONNECT_METRICS_TOKEN = TOKEN

    def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples
        }

    return scrape


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(autouse=True)
def usage_written_on_flush_only(monkeypatch):
    """Proxy usage is written by a timer thread in production; nothing here needs it written."""
    monkeypatch.setattr(keys.proxy_usage, "interval", None)
    yield
    keys.proxy_usage._pending.clear()


@pytest.fixture
def front_api(settings):
    settings.FRONT_API_URL = FRONT
    ratelimit.budget_cache_clear()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked
    ratelimit.budget_cache_clear()


# --- Who may scrape -------------------------------------------------------------------------


def test_without_a_token_configured_metrics_do_not_exist(settings):
    settings.FRONTCONNECT_METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert Client().get("/metrics").status_code == 404


@pytest.mark.parametrize(
    "header",
    [None, f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer"],
)
def test_any_other_authorization_gets_404_as_if_there_were_no_metrics(settings, header):
    settings.FRONTCONNECT_METRICS_TOKEN = TOKEN
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = Client().get("/metrics", **extra)
    assert response.status_code == 404
    assert b"frontconnect_" not in response.content


def test_the_right_token_gets_the_metrics_and_nothing_is_cached(settings):
    settings.FRONTCONNECT_METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert b"# TYPE frontconnect_connections gauge" in response.content
    assert TOKEN.encode() not in response.content
    assert Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


# --- Gauges read from the database -----------------------------------------------------------


def test_connections_are_counted_by_status_and_the_heartbeat_age_is_shown(scrape, owner):
    for name, status in [("a", Status.ONLINE), ("b", Status.ONLINE), ("c", Status.OFFLINE)]:
        Connection.objects.create(name=name, owner=owner, status=status)
    samples = scrape()
    assert value(samples, "frontconnect_connections", status="online") == 2
    assert value(samples, "frontconnect_connections", status="offline") == 1
    assert ("frontconnect_connections", (("status", "reauthorize"),)) in samples
    assert value(samples, "frontconnect_connections", status="reauthorize") == 0
    assert math.isinf(value(samples, "frontconnect_worker_heartbeat_age_seconds"))

    heartbeat_record()
    assert 0 <= value(scrape(), "frontconnect_worker_heartbeat_age_seconds") < 60


# --- Counters moving --------------------------------------------------------------------------


def test_a_check_moves_the_check_and_front_request_counters(scrape, front_api, token_connection):
    front_api.get(f"{FRONT}/me", json={"id": "cmp_1", "name": "Acme"}, headers=RATE)
    before = scrape()
    services.connection_test(connection=token_connection, actor=None, source=Source.ADMIN)
    after = scrape()
    assert value(after, "frontconnect_checks_total", result="online") == (
        value(before, "frontconnect_checks_total", result="online") + 1
    )
    requests = ("frontconnect_front_requests_total", {"kind": "me", "code": "200"})
    assert value(after, requests[0], **requests[1]) == value(before, requests[0], **requests[1]) + 1
    latency = "frontconnect_front_request_duration_seconds_count"
    assert value(after, latency, kind="me") == value(before, latency, kind="me") + 1


def test_a_429_from_front_counts_as_a_429_and_an_unchecked_check(
    scrape, front_api, token_connection
):
    spent = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "retry-after": "30"}
    front_api.get(f"{FRONT}/me", status=429, headers=spent, json={})
    before = scrape()
    services.connection_test(connection=token_connection, actor=None, source=Source.ADMIN)
    after = scrape()
    for name, labels in [
        ("frontconnect_front_429_total", {"limit": "company"}),
        ("frontconnect_checks_total", {"result": "unchecked"}),
        ("frontconnect_front_requests_total", {"kind": "me", "code": "429"}),
    ]:
        assert value(after, name, **labels) == value(before, name, **labels) + 1, name


def test_a_budget_that_has_no_room_counts_a_deferred_wait(scrape):
    ratelimit.budget_penalise("company:cmp_full", 30)
    before = scrape()
    outcome = ratelimit.budget_acquire("company:cmp_full", wait=0)
    assert isinstance(outcome, ratelimit.Deferred)
    after = scrape()
    name = "frontconnect_budget_waits_total"
    assert value(after, name, outcome="deferred") == value(before, name, outcome="deferred") + 1


def test_a_proxied_call_moves_the_proxy_and_front_request_counters(
    scrape, front_api, owner, token_connection
):
    Connection.objects.filter(pk=token_connection.pk).update(
        status=Status.ONLINE, front_company_id="cmp_1"
    )
    front_api.get(f"{FRONT}/conversations", json={"_results": []}, headers=RATE)
    key = apikey_create(
        name="Integration", owner=owner, permissions=[Permission.PROXY], scope=KeyScope.USERS
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")
    before = scrape()
    response = client.get(f"/api/v1/connections/{token_connection.pk}/front/conversations")
    assert response.status_code == 200
    b"".join(response.streaming_content)
    missing = client.get("/api/v1/connections/999999/front/conversations")
    assert missing.status_code == 404
    after = scrape()
    for name, labels in [
        ("frontconnect_proxy_requests_total", {"code": "200"}),
        ("frontconnect_proxy_requests_total", {"code": "404"}),
        ("frontconnect_front_requests_total", {"kind": "proxy", "code": "200"}),
        ("frontconnect_front_request_duration_seconds_count", {"kind": "proxy"}),
    ]:
        assert value(after, name, **labels) == value(before, name, **labels) + 1, (name, labels)
    assert key.plaintext not in str(after) and API_TOKEN not in str(after)


def test_a_refresh_moves_the_refresh_counter(scrape, front_settings, oauth_connection):
    Connection.objects.filter(pk=oauth_connection.pk).update(status=Status.ONLINE)
    oauth_connection.refresh_from_db()
    issued = front_settings.issue()
    oauth_connection.access_token = issued["access_token"]
    oauth_connection.refresh_token = issued["refresh_token"]
    oauth_connection.access_token_expires_at = timezone.now() - timedelta(minutes=1)
    oauth_connection.save()
    before = scrape()
    services.connection_refresh(connection=oauth_connection, actor=None, source=Source.ADMIN)
    after = scrape()
    for name, labels in [
        ("frontconnect_refreshes_total", {"result": "renewed"}),
        ("frontconnect_front_requests_total", {"kind": "refresh", "code": "200"}),
    ]:
        assert value(after, name, **labels) == value(before, name, **labels) + 1, name
    assert CLIENT_SECRET not in str(after)


def test_front_unreachable_is_counted_by_why_not_by_a_status(scrape, settings, token_connection):
    settings.FRONT_API_URL = f"http://127.0.0.1:{closed_port()}"
    before = scrape()
    services.connection_test(connection=token_connection, actor=None, source=Source.ADMIN)
    after = scrape()
    for name, labels in [
        ("frontconnect_front_requests_total", {"kind": "me", "code": "unreachable"}),
        ("frontconnect_checks_total", {"result": "unchecked"}),
    ]:
        assert value(after, name, **labels) == value(before, name, **labels) + 1, name


def test_a_refresh_front_refuses_is_counted_refused(scrape, front_settings, oauth_connection):
    Connection.objects.filter(pk=oauth_connection.pk).update(status=Status.ONLINE)
    oauth_connection.refresh_from_db()
    oauth_connection.access_token = "at-unknown"
    oauth_connection.refresh_token = "rt-front-never-issued"
    oauth_connection.access_token_expires_at = timezone.now() - timedelta(minutes=1)
    oauth_connection.save()
    before = scrape()
    with pytest.raises(FrontError):
        services.connection_refresh(connection=oauth_connection, actor=None, source=Source.ADMIN)
    after = scrape()
    for name, labels in [
        ("frontconnect_refreshes_total", {"result": "refused"}),
        ("frontconnect_front_requests_total", {"kind": "refresh", "code": "400"}),
    ]:
        assert value(after, name, **labels) == value(before, name, **labels) + 1, name


# --- Several processes ------------------------------------------------------------------------

COUNT_IN_A_PROCESS = (
    "import django; django.setup(); from common import metrics; "
    "metrics.PROXY_REQUESTS.labels('200').inc({n}); metrics.front_request('me', 200, 0.2)"
)


def test_counts_of_several_processes_are_added_up(tmp_path, settings):
    """Two processes (as two gunicorn or Celery workers) count into one folder; a scrape adds
    them up."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "frontconnect.test_settings",
        "FRONTCONNECT_METRICS_DIR": str(folder),
        "PYTHONPATH": str(ROOT),
    }
    for n in (3, 4):
        subprocess.run(  # noqa: S603
            [sys.executable, "-c", COUNT_IN_A_PROCESS.format(n=n)],
            env=env, cwd=ROOT, check=True, timeout=60,
        )  # fmt: skip
    assert len(list(folder.glob("counter_*.db"))) == 2
    settings.FRONTCONNECT_METRICS_DIR = str(folder)
    settings.FRONTCONNECT_METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }
    assert value(samples, "frontconnect_proxy_requests_total", code="200") == 7
    assert value(samples, "frontconnect_front_requests_total", kind="me", code="200") == 2
    assert value(samples, "frontconnect_front_request_duration_seconds_count", kind="me") == 2
    assert value(samples, "frontconnect_front_request_duration_seconds_sum", kind="me") == (
        pytest.approx(0.4)
    )


def test_processes_that_import_prometheus_client_before_the_settings_count_in_the_folder(
    tmp_path,
):
    folder = tmp_path / "metrics"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "frontconnect.test_settings",
        "FRONTCONNECT_METRICS_DIR": str(folder),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    code = (
        "import prometheus_client, django; django.setup(); from common import metrics; "
        "metrics.CHECKS.labels('online').inc()"
    )
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=60)  # noqa: S603
    assert len(list(folder.glob("counter_*.db"))) == 1


def test_a_gunicorn_worker_that_ends_leaves_its_counters_and_drops_its_live_files(
    tmp_path, settings
):
    import runpy

    folder = tmp_path / "metrics"
    folder.mkdir()
    settings.FRONTCONNECT_METRICS_DIR = str(folder)
    (folder / "counter_4242.db").write_bytes(b"")
    (folder / "gauge_livesum_4242.db").write_bytes(b"")
    (folder / "gauge_livesum_4343.db").write_bytes(b"")
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    class Worker:
        pid = 4242

    hooks["child_exit"](None, Worker())
    assert sorted(path.name for path in folder.iterdir()) == [
        "counter_4242.db",
        "gauge_livesum_4343.db",
    ]


def test_each_process_counts_alone_without_a_folder(settings):
    settings.FRONTCONNECT_METRICS_DIR = ""
    text = metrics.metrics_text().decode()
    assert "# TYPE frontconnect_checks_total counter" in text


# --- Settings ---------------------------------------------------------------------------------

SHOW = (
    "import environ; environ.Env.read_env = lambda *a, **k: None; "
    "import os, django; django.setup(); from django.conf import settings; "
    "print(repr(settings.FRONTCONNECT_METRICS_DIR)); "
    "print(repr(os.environ.get('PROMETHEUS_MULTIPROC_DIR')))"
)


def boot(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FRONT"))}
    clean.pop("DATABASE_URL", None)
    clean.pop("PROMETHEUS_MULTIPROC_DIR", None)
    clean.update(
        DJANGO_SETTINGS_MODULE="frontconnect.settings",
        DJANGO_SECRET_KEY="s" * 60,
        FRONTCONNECT_ENCRYPTION_KEY="dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcy0hISE=",
        PYTHONPATH=str(ROOT),
        **env,
    )
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", SHOW], cwd=tmp, env=clean, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_a_relative_metrics_folder_is_taken_from_the_root_and_created(tmp_path):
    """The web server and the workers may start in other directories: they share one folder."""
    relative = os.path.relpath(tmp_path / "counts", ROOT)
    result = boot(tmp_path, FRONTCONNECT_METRICS_DIR=relative)
    assert result.returncode == 0, result.stderr
    folder = str(ROOT / relative)
    assert result.stdout.split() == [repr(folder), repr(folder)]
    assert (tmp_path / "counts").is_dir()
    assert (tmp_path / "counts").stat().st_mode & 0o777 == 0o700


def test_an_empty_metrics_folder_turns_the_multiprocess_mode_off(tmp_path):
    result = boot(tmp_path, FRONTCONNECT_METRICS_DIR="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["''", "None"]


@pytest.mark.parametrize(
    ("variable", "value", "sentence"),
    [
        (
            "FRONTCONNECT_METRICS_TOKEN",
            "short-token",
            "FRONTCONNECT_METRICS_TOKEN must be at least",
        ),
        (
            "FRONTCONNECT_METRICS_TOKEN",
            "a token with spaces inside it",
            "FRONTCONNECT_METRICS_TOKEN",
        ),
        ("FRONTCONNECT_METRICS_DIR", "/proc/frontconnect-metrics", "FRONTCONNECT_METRICS_DIR ("),
    ],
)
def test_bad_metrics_settings_stop_start_up_with_one_sentence(tmp_path, variable, value, sentence):
    result = boot(tmp_path, **{variable: value})
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(sentence) and line.endswith(".")
