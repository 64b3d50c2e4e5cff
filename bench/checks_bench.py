"""Measure concurrent connection checks against a local stand-in for Front with rate limits.

Run: .venv/bin/python bench/checks_bench.py [--connections 2000] [--companies 40] [--concurrency 32]
(on SQLite by default, in a scratch file; with DATABASE_URL=postgres://... in test_<NAME>).

The stand-in (demo/standin.py, in its own process) answers GET /me after 100 ms, limits
each company to 200 requests a minute, advertises it in x-ratelimit-* headers and answers 429 with
retry-after beyond it. The bench prints the sequential floor (connections x latency), the time of
``connections_check`` and of ``testconnections --concurrency N``, their ratio to the floor
(target: at most 10%), the number of 429s (target: 0) and the peak in-flight requests per company.

Then a cold start (``--cold-connections 800 --cold-companies 10 --cold-rate-limit 50``): new
connections whose Front company is not known yet, their company name entered in several spellings,
against a stand-in limiting each company to 50 a minute (80 connections per company, as in
issue 16). Each round checks what is still unknown without waiting for room, then a new window
starts; it prints the 429s (target: 0) and the checks made per round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frontconnect.test_settings")
_scratch = tempfile.TemporaryDirectory(prefix="checks-bench-")
if not os.environ.get("DATABASE_URL"):
    # Checks run on threads: SQLite must be a file (an in-memory database is one connection).
    os.environ["DATABASE_URL"] = f"sqlite:///{_scratch.name}/bench.sqlite3"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection as db_connection  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402
from django.utils import timezone  # noqa: E402

from connections.checking import connections_check  # noqa: E402
from connections.models import AuthType, Connection, RateBudget, Source, Status  # noqa: E402

PREFIX = "bench."


class Standin:
    """The stand-in for Front, served by a child process."""

    def __init__(self, *, latency: float, rate_limit: int) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "demo.standin", "--latency", str(latency),
             "--rate-limit", str(rate_limit), "--token-prefix", PREFIX],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def call(self, method: str, path: str) -> dict:
        request = urllib.request.Request(self.url + path, method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read() or b"{}")

    def stats(self) -> dict:
        return self.call("GET", "/_standin/stats")

    def new_window(self) -> None:
        """Start the next rate window at the stand-in and in the budgets (as a minute later)."""
        self.call("POST", "/_standin/reset")
        RateBudget.objects.update(used=0, window_reset=timezone.now(), blocked_until=None)

    def stop(self) -> None:
        assert self.process.stdin is not None
        if not self.process.stdin.closed:
            self.process.stdin.close()
        self.process.wait(timeout=10)


def seed(connections: int, companies: int) -> None:
    """Token connections spread over companies, whose ids an earlier check recorded."""
    owner = get_user_model().objects.create_user("bench-owner")
    batch = []
    for i in range(connections):
        company = f"cmp{i % companies:03d}"
        connection = Connection(
            name=f"Inbox {i:05d}",
            company_name=f"Company {company}",
            auth_type=AuthType.TOKEN,
            owner=owner,
            front_company_id=company,
            front_company_name=f"Company {company}",
            status=Status.ONLINE,
        )
        connection.api_token = f"{PREFIX}{company}.{i:05d}.abcdefghijklmnopqrstuvwxyz"
        batch.append(connection)
    Connection.objects.bulk_create(batch, batch_size=500)


SPELLINGS = ("Cold {n}", "COLD {n}", "\uff23\uff4f\uff4c\uff44 {n}", "cold {n}\u200b")


def seed_cold(connections: int, companies: int) -> list[int]:
    """Token connections Front has not named yet, their company entered in several spellings."""
    owner = get_user_model().objects.get(username="bench-owner")
    batch = []
    for i in range(connections):
        n = i % companies
        connection = Connection(
            name=f"New inbox {i:05d}",
            company_name=SPELLINGS[(i // companies) % len(SPELLINGS)].format(n=n),
            auth_type=AuthType.TOKEN,
            owner=owner,
        )
        connection.api_token = f"{PREFIX}cold{n:03d}.{i:05d}.abcdefghijklmnopqrstuvwxyz"
        batch.append(connection)
    return [c.pk for c in Connection.objects.bulk_create(batch, batch_size=500)]


def cold_start(args: argparse.Namespace) -> None:
    """New connections of companies Front has not named yet: checks per round and 429s."""
    standin = Standin(latency=args.latency, rate_limit=args.cold_rate_limit)
    settings.FRONT_API_URL = standin.url
    try:
        ids = seed_cold(args.cold_connections, args.cold_companies)
        per_company = args.cold_connections // args.cold_companies
        print(
            f"Cold start: {args.cold_connections} new Token connections over "
            f"{args.cold_companies} companies ({per_company} each), company not known yet; "
            f"Front stand-in: {args.cold_rate_limit} requests a minute per company."
        )
        too_many = requests = 0
        rounds: list[int] = []
        started = time.perf_counter()
        while len(rounds) < 20:
            pending = Connection.objects.filter(pk__in=ids, front_company_id="").order_by("pk")
            if not pending.exists():
                break
            report = connections_check(
                pending, concurrency=args.concurrency, source=Source.COMMAND, patience=0
            )
            stats = standin.stats()
            too_many += stats["too_many"]
            requests += stats["me_requests"]
            rounds.append(report.online)
            standin.new_window()
        elapsed = time.perf_counter() - started
        print(f"  rounds (one rate window each)  {len(rounds)}: checks made {rounds}")
        print(f"  requests to Front              {requests:6d}")
        print(f"  429 answers                    {too_many:6d}   (target 0)")
        print(f"  time, without the windows' waits {elapsed:6.2f} s")
    finally:
        standin.stop()


def figures(label: str, elapsed: float, floor: float, stats: dict, extra: str = "") -> None:
    peaks = list(stats["peak_in_flight"].values()) or [0]
    print(f"{label}:")
    print(f"  time                      {elapsed:8.2f} s")
    print(f"  ratio to sequential       {elapsed / floor:8.1%}   (target <= 10%)")
    print(f"  requests to Front         {stats['me_requests']:8d}")
    print(f"  429 answers               {stats['too_many']:8d}   (target 0)")
    print(
        f"  peak in-flight per company  max {max(peaks)}, median {statistics.median(peaks):g} "
        f"over {len(stats['peak_in_flight'])} companies"
    )
    if extra:
        print(f"  {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--companies", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--rate-limit", type=int, default=200, help="per company per minute")
    parser.add_argument("--sample", type=int, default=40, help="sequential sample size")
    parser.add_argument("--cold-connections", type=int, default=800)
    parser.add_argument("--cold-companies", type=int, default=10)
    parser.add_argument("--cold-rate-limit", type=int, default=50, help="per company per minute")
    args = parser.parse_args()

    if db_connection.vendor == "sqlite":
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
            f"{_scratch.name}/test_bench.sqlite3"
        )
    old_config = setup_databases(verbosity=0, interactive=False)
    standin = Standin(latency=args.latency, rate_limit=args.rate_limit)
    settings.FRONT_API_URL = standin.url
    database = settings.DATABASES["default"]
    try:
        seed(args.connections, args.companies)
        floor = args.connections * args.latency
        print(
            f"Database: {db_connection.vendor} ({database['NAME']}); {args.connections} Token "
            f"connections over {args.companies} companies; Front stand-in: {args.latency * 1000:g}"
            f" ms per GET /me, {args.rate_limit} requests a minute per company; FrontConnect's "
            f"share {settings.FRONTCONNECT_RATE_SHARE:g}."
        )
        print(
            "Scenario: the companies are known from an earlier check; their rate limits are not "
            "(each budget starts at the lowest plan's 50 a minute and learns 200 from Front's "
            "first answer). Between phases the bench starts a new rate window at the stand-in "
            "and in the budgets, as if a minute had passed."
        )
        print(f"Sequential floor: {args.connections} x {args.latency * 1000:g} ms = {floor:.0f} s")

        sample = list(Connection.objects.order_by("pk").values_list("pk", flat=True)[: args.sample])
        started = time.perf_counter()
        connections_check(sample, concurrency=1, source=Source.COMMAND)
        per_check = (time.perf_counter() - started) / len(sample)
        print(
            f"Sequential sample: {len(sample)} checks one at a time, {per_check * 1000:.0f} ms "
            f"each, so {per_check * args.connections:.0f} s for all {args.connections}"
        )

        standin.new_window()
        started = time.perf_counter()
        report = connections_check(
            Connection.objects.order_by("pk"),
            concurrency=args.concurrency,
            source=Source.COMMAND,
            patience=120,
        )
        elapsed = time.perf_counter() - started
        figures(
            f"connections_check, concurrency {args.concurrency}",
            elapsed,
            floor,
            standin.stats(),
            f"online {report.online}, not online {report.not_online}, "
            f"not checked {report.not_checked}",
        )

        standin.new_window()
        env = dict(os.environ, FRONT_API_URL=standin.url)
        if db_connection.vendor == "postgresql":
            env["DATABASE_URL"] = (
                f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
                f"{database['NAME']}"
            )
        else:
            env["DATABASE_URL"] = f"sqlite:///{database['NAME']}"
        started = time.perf_counter()
        command = subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "testconnections", "--concurrency",
             str(args.concurrency)],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        summary = [line for line in command.stdout.splitlines() if line.startswith("Tested ")]
        figures(
            f"manage.py testconnections --concurrency {args.concurrency} (whole process)",
            elapsed,
            floor,
            standin.stats(),
            f"exit {command.returncode}; {summary[-1] if summary else command.stderr[-300:]}",
        )
        standin.stop()
        if args.cold_connections:
            cold_start(args)
    finally:
        standin.stop()
        db_connection.close()
        teardown_databases(old_config, verbosity=0)


if __name__ == "__main__":
    main()
