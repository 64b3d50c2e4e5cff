"""Measure the API key admin's add page (time and bytes) with many connections and users.

Run: .venv/bin/python bench/apikey_admin_bench.py [--connections 50000] [--users 500]
It creates a scratch test database (test_<NAME>, or in memory for SQLite) on the configured
database, signs an operator in with Django's test client, and prints the add page's median
time over --repeat loads and its size, with the same for one connection search (the
autocomplete the page calls on demand). Before issue 15 the page listed every connection and
user: 5.4 s and 2.3 MB at 50,000 connections.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frontconnect.test_settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from connections.models import AuthType, Connection  # noqa: E402

ADD = "/admin/api/apikey/add/"
SEARCH = "/admin/autocomplete/"


def populate(connections: int, users: int) -> None:
    model = get_user_model()
    model.objects.bulk_create(
        model(username=f"member{i:05d}", email=f"m{i}@example.com") for i in range(users)
    )
    owners = list(model.objects.values_list("pk", flat=True))
    batch: list[Connection] = []
    for i in range(connections):
        batch.append(
            Connection(
                owner_id=owners[i % len(owners)],
                name=f"Inbox {i:06d}",
                company_name=f"Company {i % 97}",
                auth_type=AuthType.TOKEN,
            )
        )
        if len(batch) == 5000:
            Connection.objects.bulk_create(batch)
            batch = []
    Connection.objects.bulk_create(batch)


def timed(client: Client, url: str, repeat: int, **query: str) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, query)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        size = len(response.content)
    return statistics.median(times), size


def run(args: argparse.Namespace) -> None:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    populate(args.connections, args.users)
    operator = get_user_model().objects.create_superuser("benchop", "op@example.com", "x" * 20)
    client = Client()
    client.force_login(operator)
    page_time, page_bytes = timed(client, ADD, args.repeat)
    search_time, search_bytes = timed(
        client,
        SEARCH,
        args.repeat,
        app_label="api",
        model_name="apikey",
        field_name="connections",
        term="Inbox 0421",
    )
    print(f"{Connection.objects.count():,} connections, {args.users:,} users")
    print(f"add page: {page_time * 1000:.0f} ms median, {page_bytes / 1024:.1f} KB")
    print(f"connection search: {search_time * 1000:.0f} ms median, {search_bytes:,} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        run(args)
    finally:
        teardown_databases(old_config, verbosity=0)


if __name__ == "__main__":
    main()
