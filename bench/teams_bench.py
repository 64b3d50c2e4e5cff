"""Measure the member's list, a team's page and the API list with many teams (issue 17).

Run: DATABASE_URL=postgres://... .venv/bin/python bench/teams_bench.py
     [--connections 10000] [--teams 200] [--people 400] [--teams-each 20] [--repeat 7]
It creates a scratch test database (test_<NAME>, or in memory for SQLite) on the configured
database with --connections connections spread over --teams teams, and --people people each a
member of --teams-each teams (one admin per team). Then, signed in as one member, it prints
each page's median time over --repeat loads and its number of SQL queries, at the full size and
at a tenth of it: the counts must match (constant in queries) and each time stay under 100 ms.
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
from django.db import connection as db  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from api.keys import apikey_create  # noqa: E402
from api.models import KeyScope  # noqa: E402
from connections.models import AuthType, Connection, Status  # noqa: E402
from teams.models import Membership, Role, Team  # noqa: E402

TARGET_MS = 100


def populate(*, connections: int, teams: int, people: int, teams_each: int, tag: str) -> None:
    users = get_user_model()
    users.objects.bulk_create(
        users(username=f"{tag}p{i:05d}", email=f"{tag}p{i}@example.com") for i in range(people)
    )
    person_ids = list(
        users.objects.filter(username__startswith=f"{tag}p")
        .order_by("username")
        .values_list("pk", flat=True)
    )
    Team.objects.bulk_create(Team(name=f"{tag} team {i:04d}") for i in range(teams))
    team_ids = list(
        Team.objects.filter(name__startswith=f"{tag} team")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rows, seen = [], set()
    for n, person in enumerate(person_ids):
        for k in range(teams_each):
            team = team_ids[(n + k * (teams // teams_each or 1)) % len(team_ids)]
            if (team, person) not in seen:
                seen.add((team, person))
                rows.append(Membership(team_id=team, user_id=person, role=Role.MEMBER))
    Membership.objects.bulk_create(rows, batch_size=5000)
    for n, team in enumerate(team_ids):  # one admin per team: its first member
        first = Membership.objects.filter(team_id=team).order_by("pk").values("pk")[:1]
        if not Membership.objects.filter(pk__in=first).update(role=Role.ADMIN):
            Membership.objects.create(
                team_id=team, user_id=person_ids[n % len(person_ids)], role=Role.ADMIN
            )
    batch = []
    for i in range(connections):
        batch.append(
            Connection(
                name=f"{tag} inbox {i:06d}", company_name=f"Company {i % 97}",
                auth_type=AuthType.TOKEN, status=Status.ONLINE, owner_id=person_ids[0],
                team_id=team_ids[i % len(team_ids)],
            )
        )  # fmt: skip
        if len(batch) == 5000:
            Connection.objects.bulk_create(batch)
            batch = []
    Connection.objects.bulk_create(batch)


def measure(client: Client | APIClient, url: str, repeat: int) -> tuple[float, int, float]:
    """Median total time (ms), queries per load, and median time spent in SQL (ms)."""
    client.get(url)  # the session's (or the key's) first use writes once
    times, sql_times, queries = [], [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(db) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        queries = len(captured)
        sql_times.append(sum(float(q["time"]) for q in captured.captured_queries))
    return statistics.median(times) * 1000, queries, statistics.median(sql_times) * 1000


def pages(tag: str, repeat: int) -> list[tuple[str, float, int, float]]:
    # A person who is a plain member of a team (an admin's page lists the team's keys too).
    plain = (
        Membership.objects.filter(role=Role.MEMBER, user__username__startswith=f"{tag}p")
        .select_related("user", "team")
        .order_by("user__username", "team_id")
        .first()
    )
    assert plain is not None
    member, team = plain.user, plain.team
    admin = Membership.objects.filter(team=team, role=Role.ADMIN).select_related("user").first()
    assert admin is not None
    key = apikey_create(name="Bench", owner=None, team=team, scope=KeyScope.TEAM,
                        permissions=["read"], created_by=admin.user)  # fmt: skip
    client = Client()
    client.force_login(member)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")
    return [
        ("member's list /connections/", *measure(client, "/connections/", repeat)),
        ("team page /teams/<id>/", *measure(client, f"/teams/{team.pk}/", repeat)),
        ("API list (team key)", *measure(api, "/api/v1/connections/", repeat)),
    ]


def run(args: argparse.Namespace) -> int:
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    sizes = [("small", 10), ("full", 1)]
    results = {}
    for tag, divisor in sizes:
        populate(
            connections=args.connections // divisor, teams=max(args.teams // divisor, 20),
            people=max(args.people // divisor, 20), teams_each=args.teams_each, tag=tag,
        )  # fmt: skip
        results[tag] = pages(tag, args.repeat)
    total = Connection.objects.filter(name__startswith="full").count()
    print(f"{db.vendor}: {total:,} connections, {args.teams} teams, {args.people} people in "
          f"{args.teams_each} teams each")  # fmt: skip
    failed = 0
    for (name, small_ms, small_q, _small_sql), (_, ms, q, sql) in zip(
        results["small"], results["full"], strict=True
    ):
        verdict = "ok" if ms < TARGET_MS and q == small_q else "MISSED"
        failed += verdict != "ok"
        print(f"{name:30} {ms:6.1f} ms median ({sql:.1f} ms in SQL), {q} queries "
              f"(a tenth of the size: {small_ms:.1f} ms, {small_q} queries) {verdict}")  # fmt: skip
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--teams-each", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        failed = run(args)
    finally:
        teardown_databases(old_config, verbosity=0)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
