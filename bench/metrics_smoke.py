"""Scrape a running installation: do /metrics move after proxied calls and the worker's checks?

Run: .venv/bin/python bench/metrics_smoke.py [--redis redis://127.0.0.1:6379/7] [--calls 20]
It starts the Front stand-in, a scratch SQLite database with 3 Token connections and an API key,
gunicorn with the README's production command (2 processes) and a Celery worker with 2 pool
processes on Redis, all counting into one scratch FRONTCONNECT_METRICS_DIR with
DJANGO_LOG_FORMAT=json. It scrapes /metrics, makes ``--calls`` proxied calls (spread over both
gunicorn processes), creates a Token connection through the API with an X-Request-ID (the API
queues its check for the worker), queues a check of each connection, scrapes again and prints
what moved. Exit status 1 if a counter moved less than what was done (the proxy's: not
exactly), if the worker's log of the queued check lacks the request's id, or if the web server
wrote a line that is not a JSON object; the scratch folder (database, logs, metrics files) is
kept then (or with KEEP=1), and removed otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess  # noqa: S404  # nosec B404
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "smoke-metrics-token-0123456789abcdef"
PORT = 8769
SAMPLE = re.compile(r"^(frontconnect_[a-z0-9_]+)(\{[^}]*\})? (\S+)$")


def get(path: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", body, headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310  # nosec B310
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape() -> dict[str, float]:
    status, body = get("/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, status
    samples = {}
    for line in body.decode().splitlines():
        found = SAMPLE.match(line)
        if found:
            samples[found[1] + (found[2] or "")] = float(found[3])
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7", help="the worker's broker")
    parser.add_argument("--calls", type=int, default=20, help="proxied calls to make")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="frontconnect-metrics-smoke-"))
    py = [sys.executable]
    standin = subprocess.Popen(  # noqa: S603  # nosec B603
        [*py, "-m", "demo.standin", "--latency", "0.01"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert standin.stdout is not None
    front = standin.stdout.readline().strip()
    env = {
        **os.environ,
        "FRONTCONNECT_ENV_FILE": "", "DJANGO_DEBUG": "true", "DJANGO_SECRET_KEY": "k" * 60,
        "FRONTCONNECT_ENCRYPTION_KEY": "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcy0hISE=",
        "DATABASE_URL": f"sqlite:///{scratch}/db.sqlite3",
        "FRONTCONNECT_METRICS_DIR": str(scratch / "metrics"),
        "FRONTCONNECT_METRICS_TOKEN": TOKEN, "DJANGO_LOG_FORMAT": "json",
        "CELERY_BROKER_URL": args.redis, "DJANGO_SETTINGS_MODULE": "frontconnect.settings",
        "FRONT_API_URL": front, "FRONT_OAUTH_TOKEN_URL": f"{front}/oauth/token",
        "FRONT_OAUTH_AUTHORIZE_URL": f"{front}/oauth/authorize",
    }  # fmt: skip

    def manage(*command: str) -> str:
        return subprocess.run(  # noqa: S603  # nosec B603
            [*py, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True,
            text=True,
        ).stdout  # fmt: skip

    manage("migrate", "-v0")
    manage("shell", "-c", (
        "from django.contrib.auth.models import User\n"
        "from connections.models import Connection, AuthType\n"
        "u = User.objects.create_user('ops', 'ops@example.com', 'a-long-password-of-ops-1')\n"
        "for i in range(3):\n"
        "    c = Connection(name=f'Inbox {i}', company_name='Acme', auth_type=AuthType.TOKEN, "
        "owner=u)\n"
        "    c.api_token = f'bench.acme.{i}'\n    c.save()\n"
    ))  # fmt: skip
    key = manage(
        "createapikey", "smoke", "--owner", "ops", "--permission", "proxy", "read", "write"
    ).strip().splitlines()[-1]  # fmt: skip
    logs = {name: open(scratch / f"{name}.log", "w") for name in ("web", "worker")}  # noqa: SIM115
    web = subprocess.Popen(  # noqa: S603  # nosec B603
        [*py, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{PORT}",
         "--workers", "2"],
        cwd=ROOT, env=env, stdout=logs["web"], stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = subprocess.Popen(  # noqa: S603  # nosec B603
        [*py, "-m", "celery", "-A", "frontconnect", "worker", "-Q", "celery", "--concurrency",
         "2", "-n", "smoke@%h", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=logs["worker"], stderr=subprocess.STDOUT,
    )  # fmt: skip
    failures: list[str] = []
    try:
        time.sleep(6)
        before = scrape()
        bearer = {"Authorization": f"Bearer {key}"}
        for _ in range(args.calls):
            assert get("/api/v1/connections/1/front/me", bearer)[0] == 200
        created = json.dumps({"name": "Queued", "company_name": "Acme", "auth_type": "token",
                              "api_token": "bench.acme.9"}).encode()  # fmt: skip
        status, _ = get(
            "/api/v1/connections/", {**bearer, "X-Request-ID": "smoke-create-1",
                                     "Content-Type": "application/json"}, created,
        )  # fmt: skip
        assert status == 201, status
        manage("shell", "-c", (
            "from connections.tasks import check_connection, heartbeat\n"
            "for pk in (1, 2, 3): check_connection.delay(pk)\nheartbeat.delay()\n"
        ))  # fmt: skip
        time.sleep(8)
        after = scrape()
        expected = {
            'frontconnect_proxy_requests_total{code="200"}': args.calls,
            'frontconnect_front_requests_total{code="200",kind="proxy"}': args.calls,
            'frontconnect_checks_total{result="online"}': 4,
            'frontconnect_front_requests_total{code="200",kind="me"}': 4,
        }
        for name, moved in expected.items():
            change = after.get(name, 0) - before.get(name, 0)
            print(f"{name}: {before.get(name, 0):g} -> {after.get(name, 0):g}")
            # The worker may check more on its own (connections still unchecked at its start).
            if change < moved or (name.startswith("frontconnect_proxy") and change != moved):
                failures.append(f"{name} moved by {change:g}, expected {moved}")
        online = after.get('frontconnect_connections{status="online"}')
        print(f"connections online: {online}")
        age = after.get("frontconnect_worker_heartbeat_age_seconds", float("inf"))
        print(f"worker heartbeat age: {age:.1f} s")
        if age > 60:
            failures.append("the worker's heartbeat is not recent")
        tagged = [
            line for line in (scratch / "worker.log").read_text().splitlines()
            if '"request_id": "smoke-create-1"' in line
        ]  # fmt: skip
        print(f"worker log lines with the API request's id: {len(tagged)}")
        if not tagged:
            failures.append("the worker's log never names the request that queued the check")
        text = (scratch / "web.log").read_text().splitlines()
        plain = [line for line in text if not line.startswith("{")]
        print(f"web server log: {len(text)} lines, {len(plain)} not JSON")
        if plain or not text:
            failures.append(f"the web server wrote lines that are not JSON: {plain[:2]}")
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            process.wait(timeout=30)
        assert standin.stdin is not None
        standin.stdin.close()
        standin.wait(timeout=10)
        for log in logs.values():
            log.close()
    for failure in failures:
        print(f"FAILED: {failure}")
    if failures or os.environ.get("KEEP"):
        print(f"Kept for inspection: {scratch}")
    else:
        shutil.rmtree(scratch)
    print(f"{len(expected) + 3 - len(failures)} of {len(expected) + 3} expectations met")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
