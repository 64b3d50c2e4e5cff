"""Measure importconnections against the bare bulk_create limit, and memory as rows grow.

Run: .venv/bin/python bench/import_bench.py [--rows 10000] [--big 100000]
It creates a scratch test database (test_<NAME>, or in memory for SQLite) on the configured
database, prints the times, their ratio (target: at most 2) and the peak-memory ratio of the big
import to the small one (target: below 10), then drops the scratch database.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frontconnect.test_settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from connections import tasks  # noqa: E402
from connections.bulk import BATCH_SIZE  # noqa: E402
from connections.models import AuthType, Connection  # noqa: E402


def write_csv(path: Path, rows: int) -> None:
    """A CSV of Token connections, written line by line so the generator holds no memory."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("name,company_name,auth_type,api_token,oauth_client,scopes,owner\r\n")
        for i in range(rows):
            out.write(f"Inbox {i},Company {i % 97},token,tok_{i:08d}_abcdefghijklmnop,,,\r\n")


def bare(owner_id: int, rows: int) -> float:
    """The limit: build the same model objects and bulk_create them in batches (encrypting)."""
    started = time.perf_counter()
    with transaction.atomic():  # The same single transaction the import uses.
        write_bare(owner_id, rows)
    return time.perf_counter() - started


def write_bare(owner_id: int, rows: int) -> None:
    batch: list[Connection] = []
    for i in range(rows):
        batch.append(
            Connection(
                owner_id=owner_id,
                name=f"Inbox {i}",
                company_name=f"Company {i % 97}",
                auth_type=AuthType.TOKEN,
                api_token=f"tok_{i:08d}_abcdefghijklmnop",
            )
        )
        if len(batch) == BATCH_SIZE:
            Connection.objects.bulk_create(batch)
            batch = []
    Connection.objects.bulk_create(batch)


def imported(owner: str, path: Path) -> float:
    started = time.perf_counter()
    call_command("importconnections", str(path), owner=owner, verbosity=0)
    return time.perf_counter() - started


def peak_memory(owner: str, path: Path) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    call_command("importconnections", str(path), owner=owner, verbosity=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows for the speed test")
    parser.add_argument("--big", type=int, default=100_000, help="rows for the memory test")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many speed runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database = settings.DATABASES["default"]
        if database["ENGINE"].endswith("sqlite3"):
            # Like the configured database, the scratch one is a file (the test default would
            # be in memory, which hides the cost of committing).
            database.setdefault("TEST", {})["NAME"] = str(Path(tmp, "bench.sqlite3"))
        old_config = setup_databases(verbosity=0, interactive=False)
        # The import queues the check of its new tokens for the worker on commit; the bench
        # counts the messages instead of sending them (the test settings would run them here).
        queued: list[int] = []
        try:
            with mock.patch.object(tasks.check_unchecked, "delay", side_effect=queued.append):
                run(args, Path(tmp))
        finally:
            teardown_databases(old_config, verbosity=0)
        print(f"checks queued for the worker: {sum(map(len, queued))} in {len(queued)} messages")


def run(args: argparse.Namespace, tmp: Path) -> None:
    """Time the bare limit and the import, best of --repeat, then compare peak memory."""
    users = get_user_model().objects
    small, big = Path(tmp, "small.csv"), Path(tmp, "big.csv")
    write_csv(small, args.rows)
    write_csv(big, args.big)
    bare_times, import_times = [], []
    for run in range(args.repeat):
        bare_times.append(bare(users.create_user(f"bare{run}").pk, args.rows))
        import_times.append(imported(users.create_user(f"import{run}").username, small))
    bare_time, import_time = min(bare_times), min(import_times)
    print(f"database: {django.db.connection.vendor}, rows: {args.rows}")
    print(f"bare bulk_create: {bare_time:.3f} s")
    print(f"importconnections: {import_time:.3f} s")
    print(f"ratio: {import_time / bare_time:.2f} (target <= 2)")
    small_peak = peak_memory(users.create_user("mem-small").username, small)
    big_peak = peak_memory(users.create_user("mem-big").username, big)
    print(f"peak memory {args.rows} rows: {small_peak / 2**20:.1f} MiB")
    print(f"peak memory {args.big} rows: {big_peak / 2**20:.1f} MiB")
    print(f"memory ratio: {big_peak / small_peak:.2f} (target < 10)")


if __name__ == "__main__":
    main()
