from __future__ import annotations

import time

import pytest

from api import keys
from api.models import ApiKeyUsage, KeyScope
from connections.models import Connection

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("scope", list(KeyScope.values))
def test_the_proxys_lookup_reaches_exactly_what_the_api_reaches(
    scope, make_key, owner, stranger, operator, token_connection
):
    theirs = Connection.objects.create(name="Theirs", company_name="X", owner=stranger)
    other = Connection.objects.create(name="Other", company_name="X", owner=owner)
    reach: dict = {"users": [owner], "connections": [token_connection]}
    if scope == KeyScope.TEAM:
        from teams.models import Membership, Role, Team

        team = Team.objects.create(name="Ops")
        Membership.objects.create(team=team, user=operator, role=Role.ADMIN)
        Connection.objects.filter(pk=token_connection.pk).update(team=team)
        reach = {"team": team, "created_by": operator}
    made = make_key(scope=scope, key_owner=operator, **reach)
    for connection in (token_connection, theirs, other):
        reachable = keys.connections_for_key(made.key).filter(pk=connection.pk).exists()
        found = keys.connection_in_reach(made.key, connection.pk, ["name", "api_token"])
        assert (found is not None) == reachable, (scope, connection.name)
        if found is not None:
            assert found.pk == connection.pk and found.name == connection.name
    assert keys.connection_in_reach(made.key, 10**9, ["name"]) is None


def test_a_key_for_chosen_users_reaches_each_of_them(make_key, owner, stranger, operator):
    mine = Connection.objects.create(name="Mine", company_name="X", owner=owner)
    theirs = Connection.objects.create(name="Theirs", company_name="X", owner=stranger)
    made = make_key(users=[owner, stranger], key_owner=operator)
    assert set(keys.connections_for_key(made.key)) == {mine, theirs}
    assert keys.connection_in_reach(made.key, theirs.pk, ["name"]) is not None


@pytest.mark.django_db(transaction=True)
def test_the_usage_tally_writes_on_its_timer(make_key, token_connection):
    made = make_key()
    tally = keys.UsageTally(interval=0.01)
    for _ in range(3):
        tally.add(key=made.key, connection=token_connection)
    deadline = time.monotonic() + 10
    while not ApiKeyUsage.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ApiKeyUsage.objects.get().count == 3
