"""The member's list, a team's page and the API list stay constant in queries as teams,
connections and memberships grow (bench/teams_bench.py measures time at 10,000 connections)."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from api.keys import apikey_create
from api.models import KeyScope
from connections.models import AuthType, Connection
from teams.models import Membership, Role, Team

pytestmark = pytest.mark.django_db


def grow(member, admin, *, teams: int, per_team: int, start: int) -> Team:
    """``teams`` more teams with ``per_team`` connections each, the member in all of them."""
    made = Team.objects.bulk_create(Team(name=f"Team {start + n}") for n in range(teams))
    Membership.objects.bulk_create(
        [Membership(team=t, user=member, role=Role.MEMBER) for t in made]
        + [Membership(team=t, user=admin, role=Role.ADMIN) for t in made]
    )
    Connection.objects.bulk_create(
        Connection(name=f"Inbox {t.pk}-{i}", company_name="Acme", auth_type=AuthType.TOKEN,
                   owner=admin, team=t)
        for t in made for i in range(per_team)
    )  # fmt: skip
    return made[0]


def count(client, url: str) -> int:
    with CaptureQueriesContext(db) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_list_team_page_and_api_list_are_constant_in_queries(client, bob, dan):
    team = grow(bob, dan, teams=2, per_team=3, start=0)
    key = apikey_create(name="Bench", owner=None, team=team, scope=KeyScope.TEAM,
                        permissions=["read"], created_by=dan)  # fmt: skip
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")
    client.force_login(bob)
    urls = [reverse("connections:list"), reverse("teams:detail", args=[team.pk])]
    for url in urls:  # the first request of a session also reads and saves the session
        client.get(url)
    api.get("/api/v1/connections/")  # and a key's first use records when it was last used
    small = [count(client, url) for url in urls] + [count(api, "/api/v1/connections/")]
    grow(bob, dan, teams=8, per_team=12, start=100)
    Connection.objects.bulk_create(
        Connection(name=f"More {i}", company_name="A", owner=dan, team=team) for i in range(40)
    )
    large = [count(client, url) for url in urls] + [count(api, "/api/v1/connections/")]
    assert large == small
