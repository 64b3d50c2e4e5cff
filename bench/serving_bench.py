"""Measure the production serving model (README: gunicorn -c gunicorn.conf.py) under load.

Run: .venv/bin/python bench/serving_bench.py [--levels 8 32 128] [--seconds 8] [--latency 0.05]
It starts a stand-in for Front on 127.0.0.1 answering after ``--latency`` seconds (in a process
of its own, as are the load generator and the monitor, so none skews another's timings), a scratch
database (SQLite, or <name>_serving_bench on DATABASE_URL's PostgreSQL server) with one Token
connection and enough API keys that no key has more than 2 clients, and gunicorn with the
README's production command bound to loopback. At each concurrency it sends the same requests
directly to the stand-in and through /api/v1/connections/<id>/front/me, while a monitor fetches
/healthz and the sign-in page (a new connection each time) and counts PostgreSQL connections.
It collects the static files first (the README's deploy step), as the sign-in page needs them.
It prints, per level: throughput vs direct, added latency, the monitor's p95s and errors, and
the peak of database connections; then the slow-client case: one key opening 10 downloads it
never reads (at most FRONTCONNECT_PROXY_MAX_PER_KEY are held, the rest answered 429) and the
time until the server abandoned them. Exit status 1 if a target is missed (80% at concurrency
8; p95 under 500 ms at the highest level) or a monitored page answered with an error.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import multiprocessing.queues
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.proxy_bench import (  # noqa: E402 (after the path is set)
    FRONT_TOKEN,
    StandinHandler,
    bench_env,
    gunicorn,
    percentile,
    prepare,
    scratch_database,
    server_cpu_seconds,
    standin,
)

DOWNLOAD = 64 * 1024 * 1024
IDLE_TIMEOUT = 3  # seconds, for the slow-client case (production default: 30)
MONITORED = ("/healthz", "/accounts/login/")
# The load, the monitor and the Front stand-in each run in a process of their own (forked).
FORK = multiprocessing.get_context("fork")


class Standin(StandinHandler):
    """The proxy bench's Front, plus a large download for clients that stop reading."""

    def do_GET(self) -> None:
        if not self.path.startswith("/download"):
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(DOWNLOAD))
        self.end_headers()
        block = bytes(65536)
        try:
            for _ in range(DOWNLOAD // len(block)):
                self.wfile.write(block)
        except OSError:
            return


@dataclass
class Run:
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def load(port: int, path: str, keys: list[str], seconds: float, concurrency: int) -> Run:
    """``concurrency`` keep-alive clients sending GETs for ``seconds``; client n uses key n % k."""
    run = Run()
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(number: int) -> None:
        headers = {"Authorization": f"Bearer {keys[number % len(keys)]}",
                   "Accept": "application/json"}  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                try:
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    status = 0
                elapsed = time.perf_counter() - started
                with lock:
                    run.latencies.append(elapsed)
                    run.statuses[status] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.wall = time.perf_counter() - started
    return run


class Monitor:
    """Fetches /healthz and the sign-in page as a new client would, and counts DB connections.

    It runs in a process of its own: beside the load generator's threads, its own timings would
    include waiting for the bench's interpreter lock, not only for the server.
    """

    def __init__(self, port: int, database: str | None, dsn: str) -> None:
        self.port, self.database, self.dsn = port, database, dsn
        self.latencies: dict[str, list[float]] = {path: [] for path in MONITORED}
        self.failures = 0
        self.peak_connections = 0
        self._stop = FORK.Event()
        self._results: multiprocessing.queues.Queue[tuple[dict[str, list[float]], int, int]] = (
            FORK.Queue()
        )
        self._process = FORK.Process(target=self._run, daemon=True)

    def _run(self) -> None:
        threads = [threading.Thread(target=self._probe, daemon=True)]
        if self.database:
            threads.append(threading.Thread(target=self._count, daemon=True))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._results.put((self.latencies, self.failures, self.peak_connections))

    def _probe(self) -> None:
        while not self._stop.is_set():
            for path in MONITORED:
                started = time.perf_counter()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                try:
                    conn.request("GET", path)
                    response = conn.getresponse()
                    response.read()
                    # /healthz answers 503 here (no worker heartbeat): the answer time counts.
                    if response.status not in (200, 503):
                        self.failures += 1
                except (OSError, http.client.HTTPException):
                    self.failures += 1
                finally:
                    conn.close()
                self.latencies[path].append(time.perf_counter() - started)
            self._stop.wait(0.1)

    def _count(self) -> None:
        import psycopg

        base = self.dsn.rpartition("/")[0]
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            while not self._stop.is_set():
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.database,)
                ).fetchone()
                self.peak_connections = max(self.peak_connections, int(row[0]) if row else 0)
                self._stop.wait(0.05)

    def __enter__(self) -> Monitor:
        self._process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.latencies, self.failures, self.peak_connections = self._results.get(timeout=60)
        self._process.join()

    def p95(self, path: str) -> float:
        values = self.latencies[path]
        return percentile(values, 0.95) * 1000 if values else float("nan")


def load_elsewhere(port: int, path: str, keys: list[str], seconds: float, concurrency: int) -> Run:
    """``load`` in a process of its own, apart from the Front stand-in and the monitor."""
    with FORK.Pool(1) as pool:
        return pool.apply(load, (port, path, keys, seconds, concurrency))


@contextmanager
def standin_elsewhere(latency: float) -> Iterator[str]:
    """The Front stand-in in a process of its own: Front does not share the bench's CPU time."""
    ready: multiprocessing.queues.Queue[str] = FORK.Queue()

    def serve() -> None:
        with standin(latency, Standin) as url:
            ready.put(url)
            threading.Event().wait()

    process = FORK.Process(target=serve, daemon=True)
    process.start()
    try:
        yield ready.get(timeout=30)
    finally:
        process.terminate()
        process.join()


def slow_clients(port: int, connection_id: int, key: str, count: int) -> dict[str, float]:
    """One key opens ``count`` downloads and reads none; how many held, refused, how long."""
    path = f"/api/v1/connections/{connection_id}/front/download"
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
               "Accept: */*\r\n\r\n").encode()  # fmt: skip
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(request)
        sockets.append(sock)
        time.sleep(0.05)
    time.sleep(1.0)
    statuses: Counter[str] = Counter()
    for sock in sockets:
        head = sock.recv(12, socket.MSG_PEEK)
        statuses[head[9:12].decode() or "none"] += 1
    # The server abandons the held downloads after the idle time and closes those sockets; the
    # client reads nothing until then. Afterwards what was buffered ends early (b"").
    time.sleep(IDLE_TIMEOUT + 2.0)
    abandoned = 0
    for sock in sockets:
        sock.settimeout(5)
        received = 0
        try:
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
        except OSError:
            received = DOWNLOAD
        if received < DOWNLOAD:
            abandoned += 1
        sock.close()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/api/v1/connections/{connection_id}/front/me",
                 headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    after = conn.getresponse()
    after.read()
    conn.close()
    return {
        "held": statuses["200"],
        "refused_429": statuses["429"],
        "abandoned": abandoned - statuses["429"],
        "next_call_status": after.status,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--seconds", type=float, default=8.0, help="per level and target")
    parser.add_argument("--latency", type=float, default=0.05, help="Front's answer time (s)")
    parser.add_argument(
        "--gunicorn", default="", help='flags over gunicorn.conf.py, e.g. "--worker-class sync"'
    )
    args = parser.parse_args()
    keys_needed = max(1, max(args.levels) // 2)

    scratch = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    results = []
    try:
        with (
            scratch_database(scratch, "serving_bench") as database_url,
            standin_elsewhere(args.latency) as front,
        ):
            pg_name = None if database_url.startswith("sqlite") else database_url.rpartition("/")[2]
            env = {
                **bench_env(front, database_url),
                "FRONTCONNECT_CLIENT_IDLE_TIMEOUT": str(IDLE_TIMEOUT),
            }
            connection_id, keys = prepare(env, keys_needed)
            # The deploy step of the README: without it every page that names a static file
            # (the sign-in page) answers 500, and the monitor would time an error page.
            subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
                [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
                cwd=ROOT, env=env, check=True,
            )  # fmt: skip
            front_port = int(front.rsplit(":", 1)[1])
            proxy_path = f"/api/v1/connections/{connection_id}/front/me"
            direct_keys = [FRONT_TOKEN]
            # The README's production command, bound to loopback.
            flags = ["-c", "gunicorn.conf.py", *args.gunicorn.split()]
            with (
                (scratch / "gunicorn.log").open("w") as log,
                gunicorn(env, flags, stderr=log) as (port, master),
            ):
                load_elsewhere(port, proxy_path, keys, 1.0, 8)  # warm up every process and thread
                for level in args.levels:
                    direct = load_elsewhere(front_port, "/me", direct_keys, args.seconds, level)
                    cpu = server_cpu_seconds(master)
                    with Monitor(port, pg_name, database_url) as monitor:
                        proxied = load_elsewhere(port, proxy_path, keys, args.seconds, level)
                    cpu = server_cpu_seconds(master) - cpu
                    results.append((level, direct, proxied, monitor, cpu))
                with Monitor(port, pg_name, database_url) as slow_monitor:
                    slow = slow_clients(port, connection_id, keys[0], 10)
                socket_errors = (scratch / "gunicorn.log").read_text().count("Socket error")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"Front stand-in latency {args.latency * 1000:.0f} ms; {args.seconds:g} s per level; "
          f"{'PostgreSQL' if pg_name else 'SQLite'}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; gunicorn -c gunicorn.conf.py {args.gunicorn}")  # fmt: skip
    print("conc  direct/s  proxy/s  ratio  added median/p95 ms  healthz p95  sign-in p95  "
          "monitor errors  peak DB conns  server CPU/call  non-200")  # fmt: skip
    ok = True
    for level, direct, proxied, monitor, cpu in results:
        direct_rps = sum(direct.statuses.values()) / direct.wall
        proxy_rps = proxied.statuses[200] / proxied.wall
        ratio = proxy_rps / direct_rps
        added = (statistics.median(proxied.latencies) - statistics.median(direct.latencies)) * 1e3
        added95 = (percentile(proxied.latencies, 0.95) - percentile(direct.latencies, 0.95)) * 1e3
        others = {status: n for status, n in proxied.statuses.items() if status != 200}
        peak = str(monitor.peak_connections) if pg_name else "n/a"
        health, signin = monitor.p95("/healthz"), monitor.p95("/accounts/login/")
        print(f"{level:4d}  {direct_rps:8.1f}  {proxy_rps:7.1f}  {ratio:5.1%}  "
              f"{added:8.1f} / {added95:6.1f}     {health:8.0f} ms  {signin:8.0f} ms  "
              f"{monitor.failures:14d}  {peak:>13}  "
              f"{cpu / sum(proxied.statuses.values()) * 1e3:10.1f} ms  "
              f"{others or '-'}")  # fmt: skip
        if level == 8 and ratio < 0.80:
            ok = False
        if level == max(args.levels) and max(health, signin) >= 500:
            ok = False
        # A page answered with an error is no measure of how fast it answers.
        if monitor.failures:
            ok = False
    print(f"slow clients (one key, 10 unread 64 MB downloads, idle timeout {IDLE_TIMEOUT} s): "
          f"{slow['held']:.0f} held, {slow['refused_429']:.0f} answered 429, "
          f"{slow['abandoned']:.0f} abandoned by the server within {IDLE_TIMEOUT + 3} s, "
          f"the key's next call "
          f"{slow['next_call_status']:.0f}; "
          f"meanwhile /healthz p95 {slow_monitor.p95('/healthz'):.0f} ms, sign-in p95 "
          f"{slow_monitor.p95('/accounts/login/'):.0f} ms ({slow_monitor.failures} errors); "
          f"gunicorn logged {socket_errors} "
          "socket errors (the abandoned writes)")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
