"""Measure the Front proxy against calling Front directly, under gunicorn.

Run: .venv/bin/python bench/proxy_bench.py [--requests 400] [--concurrency 8] [--latency 0.05]
It starts a local stand-in for Front on 127.0.0.1 that answers after ``--latency`` seconds,
a scratch database (SQLite, or <name>_proxy_bench on DATABASE_URL's PostgreSQL server) with one
Token connection and one API key, and
gunicorn serving FrontConnect. It then sends the same requests directly to the stand-in and
through /api/v1/connections/<id>/front/me, and prints the throughput ratio (target: at least
0.80) and the median added latency (target: at most 10 ms), with p95, then stops everything.
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FRONT_TOKEN = "bench-front-token-0123456789"


class StandinHandler(BaseHTTPRequestHandler):
    """Front's API as far as the proxy sees it: a JSON answer after a fixed latency."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm and delayed
    # ACKs add about 40 ms to every keep-alive answer.
    disable_nagle_algorithm = True
    latency = 0.05

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        time.sleep(self.latency)
        if self.headers.get("Authorization") != f"Bearer {FRONT_TOKEN}":
            status, body = 401, b'{"_error":{"status":401,"title":"Unauthenticated"}}'
        else:
            status, body = 200, b'{"id":"cmp_bench","name":"Bench Company","_links":{}}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        # A generous limit, as a large plan would have: the budget must not be what is measured.
        self.send_header("x-ratelimit-limit", "100000")
        self.send_header("x-ratelimit-remaining", "99999")
        self.send_header("x-ratelimit-reset", str(int(time.time()) + 60))
        self.end_headers()
        self.wfile.write(body)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        return


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def standin(latency: float, base: type[StandinHandler] = StandinHandler) -> Iterator[str]:
    handler = type("Handler", (base,), {"latency": latency})
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def scratch_database(scratch: Path, suffix: str = "proxy_bench") -> Iterator[str]:
    """A throwaway database: SQLite in ``scratch``, or <name>_proxy_bench beside DATABASE_URL's."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{scratch / 'bench.sqlite3'}"
        return
    import psycopg

    base, _, name = url.rpartition("/")
    bench_name = f"{name.split('?')[0]}_{suffix}"
    maintenance = f"{base}/postgres"
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{bench_name}"')
        admin.execute(f'CREATE DATABASE "{bench_name}"')
    try:
        yield f"{base}/{bench_name}"
    finally:
        with psycopg.connect(maintenance, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{bench_name}" WITH (FORCE)')


def prepare(env: dict[str, str], keys: int = 1) -> tuple[int, list[str]]:
    """Migrate the scratch database and create a connection and ``keys`` proxy keys."""
    script = (
        "from django.contrib.auth import get_user_model\n"
        "from api.keys import apikey_create\n"
        "from connections.models import Connection\n"
        "user = get_user_model().objects.create_user('bench', password=None)\n"
        "c = Connection(name='Bench', company_name='Bench', owner=user)\n"
        f"c.api_token = {FRONT_TOKEN!r}\n"
        "c.save()\n"
        "print(c.pk)\n"
        f"for n in range({keys}):\n"
        "    print(apikey_create(name=f'bench {n}', owner=user, permissions=['proxy']).plaintext)\n"
    )
    python = sys.executable
    if env["DATABASE_URL"].startswith("sqlite"):
        # Write-ahead logging lets readers go on while a request writes (the mode a SQLite
        # deployment serving concurrent requests should use); it persists in the file.
        sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")).execute(
            "PRAGMA journal_mode=WAL"
        ).close()
    # Fixed argument lists, no shell.
    subprocess.run(  # noqa: S603
        [python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    out = subprocess.run(  # noqa: S603
        [python, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[-keys - 1]), out[-keys:]


def bench_env(front_url: str, database_url: str) -> dict[str, str]:
    """Production settings (not the test settings, whose static-file autorefresh looks at the
    disk on every request), with throwaway keys and plain http on loopback."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "frontconnect.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "FRONTCONNECT_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "FRONT_API_URL": front_url,
        "DATABASE_URL": database_url,
    }


@contextmanager
def gunicorn(
    env: dict[str, str], flags: list[str], stderr: IO[str] | None = None
) -> Iterator[tuple[int, int]]:
    """gunicorn with ``flags`` on a free loopback port; yields the port and the master's pid."""
    port = free_port()
    gunicorn_bin = str(Path(sys.executable).with_name("gunicorn"))
    process = subprocess.Popen(  # noqa: S603
        [gunicorn_bin, *flags, "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stderr=stderr,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("gunicorn did not start.") from None
                time.sleep(0.1)
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def load(host: str, port: int, path: str, headers: dict[str, str], total: int, concurrency: int
         ) -> tuple[float, list[float]]:  # fmt: skip
    """Send ``total`` GETs from ``concurrency`` keep-alive clients; wall time and latencies."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    remaining = [total]

    def client() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        try:
            while True:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                started = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if response.status != 200:
                        failures.append(f"{response.status} {body[:200]!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return wall, latencies


def server_cpu_seconds(master: int) -> float:
    """CPU time used so far by gunicorn's workers (Linux /proc), to see the proxy's own cost."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        total = 0
        for pid in children:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.05, help="Front's answer time (s)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="proxy-bench-"))
    try:
        with scratch_database(scratch) as database_url, standin(args.latency) as front_url:
            env = {
                **bench_env(front_url, database_url),
                # One key sends every request here; its bound of calls in flight is not what
                # is measured (bench/serving_bench.py spreads its load over keys instead).
                "FRONTCONNECT_PROXY_MAX_PER_KEY": str(min(100, 2 * args.concurrency)),
            }
            connection_id, (key,) = prepare(env)
            front_port = int(front_url.rsplit(":", 1)[1])
            flags = ["frontconnect.wsgi:application", "--worker-class", "gthread",
                     "--workers", str(args.workers), "--threads", str(args.threads),
                     "--keep-alive", "30"]  # fmt: skip
            with gunicorn(env, flags) as (port, master):
                proxy_path = f"/api/v1/connections/{connection_id}/front/me"
                proxy_headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
                direct_headers = {
                    "Authorization": f"Bearer {FRONT_TOKEN}",
                    "Accept": "application/json",
                }  # noqa: E501
                warm = 2 * args.concurrency
                load("127.0.0.1", front_port, "/me", direct_headers, warm, args.concurrency)
                load("127.0.0.1", port, proxy_path, proxy_headers, warm, args.concurrency)
                direct_wall, direct = load(
                    "127.0.0.1", front_port, "/me", direct_headers, args.requests, args.concurrency
                )
                cpu_before = server_cpu_seconds(master)
                proxy_wall, proxied = load(
                    "127.0.0.1", port, proxy_path, proxy_headers, args.requests, args.concurrency
                )
                server_cpu = server_cpu_seconds(master) - cpu_before
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    direct_rps, proxy_rps = args.requests / direct_wall, args.requests / proxy_wall
    ratio = proxy_rps / direct_rps
    added_median = (statistics.median(proxied) - statistics.median(direct)) * 1000
    added_p95 = (percentile(proxied, 0.95) - percentile(direct, 0.95)) * 1000
    print(json.dumps({"requests": args.requests, "concurrency": args.concurrency,
                      "front_latency_ms": args.latency * 1000}))  # fmt: skip
    print(f"direct:  {direct_rps:7.1f} req/s  median {statistics.median(direct) * 1000:6.1f} ms  "
          f"p95 {percentile(direct, 0.95) * 1000:6.1f} ms")  # fmt: skip
    print(f"proxy:   {proxy_rps:7.1f} req/s  median {statistics.median(proxied) * 1000:6.1f} ms  "
          f"p95 {percentile(proxied, 0.95) * 1000:6.1f} ms")  # fmt: skip
    print(f"server CPU per proxied request: {server_cpu / args.requests * 1000:.2f} ms "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip
    print(f"throughput ratio (proxy/direct): {ratio:.1%} (target >= 80%)")
    print(f"median added latency: {added_median:.1f} ms (target <= 10 ms); "
          f"p95 added latency: {added_p95:.1f} ms")  # fmt: skip
    return 0 if ratio >= 0.80 and added_median <= 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
