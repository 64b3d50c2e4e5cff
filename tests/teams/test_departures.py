"""Nobody's departure deletes anything: deletion refused with a sentence, Offboard hands over."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db.models import ProtectedError
from django.urls import reverse

from api.keys import apikey_authenticate, apikey_create
from api.models import ApiKey, KeyScope
from connections.models import Connection, Event, Status
from teams import departures
from teams.models import Membership, Role
from tests.conftest import API_TOKEN
from tests.teams.conftest import token_connection_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def bobs_key(bob, bobs_own):
    return apikey_create(name="Bob's sync", owner=bob, permissions=["read", "token"])


def test_deleting_someone_who_owns_things_is_refused_with_what_to_move(bob, bobs_own, bobs_key):
    sentence = departures.deletion_refusal(bob)
    assert sentence == (
        "bob cannot be deleted: they still own 1 connection (\u201cBob's inbox\u201d) and "
        "1 API key (\u201cBob's sync\u201d). Move them first with the Offboard action (or "
        "manage.py offboarduser bob --to-user USERNAME | --to-team TEAM), or deactivate the "
        "user instead."
    )
    with pytest.raises(ProtectedError):
        bob.delete()
    assert Connection.objects.filter(pk=bobs_own.pk).exists()


def test_deactivating_is_always_possible(operator_client, bob, bobs_own):
    bob.is_active = False
    bob.save()
    assert Connection.objects.filter(pk=bobs_own.pk).exists()


def test_offboard_to_a_person_keeps_every_connection_working(
    client, cat, bob, sales, sales_inbox, bobs_own, bobs_key, operator
):
    Connection.objects.filter(pk=bobs_own.pk).update(status=Status.ONLINE)
    made_in_team = token_connection_for("Bob's sales tool", bob, sales)
    client.force_login(bob)
    assert Session.objects.count() == 1
    out = call_offboard("bob", "--to-user", "cat")
    assert "bob is offboarded to cat: 1 connection and 1 API key moved" in out
    moved = Connection.objects.get(pk=bobs_own.pk)
    assert moved.owner == cat and moved.team is None and moved.status == Status.ONLINE
    assert moved.api_token == API_TOKEN  # same row, same token
    stayed = Connection.objects.get(pk=made_in_team.pk)
    assert stayed.team == sales and stayed.owner == cat
    key = ApiKey.objects.get(pk=bobs_key.key.pk)
    assert key.owner == cat and list(key.users.all()) == [cat]
    assert apikey_authenticate(bobs_key.plaintext) == key
    bob.refresh_from_db()
    assert not bob.is_active and Session.objects.count() == 0
    entry = Event.objects.get(connection=moved)
    assert entry.message == "Handed over when bob was offboarded. Moved to cat."
    assert departures.deletion_refusal(bob) is None
    # Team connections are untouched by a member leaving: the team still has them.
    assert Connection.objects.filter(team=sales).count() == 2


def test_offboard_into_a_team_makes_the_keys_the_teams(bob, dan, sales, bobs_own, bobs_key):
    out = call_offboard("bob", "--to-team", "Sales")
    assert "offboarded to team Sales" in out
    assert Connection.objects.get(pk=bobs_own.pk).team == sales
    key = ApiKey.objects.get(pk=bobs_key.key.pk)
    assert key.scope == KeyScope.TEAM and key.team == sales and key.owner is None
    assert key.created_by == dan
    assert apikey_authenticate(bobs_key.plaintext) == key


def test_offboard_refuses_a_name_taken_there_and_changes_nothing(bob, cat, bobs_own):
    token_connection_for("BOB'S INBOX", cat)
    with pytest.raises(CommandError, match="cat already has a connection named"):
        call_offboard("bob", "--to-user", "cat")
    bob.refresh_from_db()
    assert bob.is_active and Connection.objects.get(pk=bobs_own.pk).owner == bob


def test_offboard_needs_one_target(bob):
    with pytest.raises(CommandError):
        call_command("offboarduser", "bob")
    with pytest.raises(CommandError, match="No team is named"):
        call_offboard("bob", "--to-team", "Nope")


def test_the_admins_offboard_action_hands_over_and_logs_it(operator_client, bob, cat, bobs_own):
    response = operator_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "offboard", "_selected_action": [bob.pk], "to_user": cat.pk, "apply": "1"},
        follow=True,
    )
    assert "Bob is offboarded to cat" in response.content.decode()
    assert Connection.objects.get(pk=bobs_own.pk).owner == cat
    assert (
        "1 connection and 0 API keys moved"
        in LogEntry.objects.get(object_id=str(bob.pk)).change_message
    )


def test_team_keys_a_departing_admin_issued_go_to_another_admin(bob, dan, cat, sales):
    Membership.objects.filter(team=sales, user=cat).update(role=Role.ADMIN)
    made = apikey_create(
        name="Team sync", owner=None, team=sales, scope=KeyScope.TEAM, permissions=["read"],
        created_by=cat,
    )  # fmt: skip
    call_offboard("cat", "--to-user", "bob")
    key = ApiKey.objects.get(pk=made.key.pk)
    assert key.created_by == dan and apikey_authenticate(made.plaintext) == key


def call_offboard(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("offboarduser", *args, stdout=out)
    return out.getvalue()
