"""Who sees, uses and changes a team's connections (connections.access), on every page.

Two teams and a user in both: a member of one team never sees, tests or learns the existence
of the other team's connections (404 on every URL, for every method)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.urls import reverse

from connections import access
from connections.models import Action, Connection, Event, Source
from teams import services
from teams.models import Membership, Role
from tests.teams.conftest import token_connection_for

pytestmark = pytest.mark.django_db

URLS = ["detail", "edit", "delete", "test", "authorize", "disconnect", "move"]
ACTIONS = {"test", "authorize", "disconnect"}


def test_members_see_their_teams_connections_and_their_own_only(
    ann, bob, cat, support_inbox, sales_inbox, bobs_own
):
    assert set(access.connections_visible_to(bob)) == {support_inbox, sales_inbox, bobs_own}
    assert set(access.connections_visible_to(cat)) == {sales_inbox}
    assert set(access.connections_visible_to(ann)) == {support_inbox}


def test_admins_and_the_creator_change_members_only_use(
    ann, bob, cat, dan, sales, support_inbox, sales_inbox
):
    made_by_cat = token_connection_for("Cat's sales tool", cat, sales)
    assert set(access.connections_changeable_by(dan)) == {sales_inbox, made_by_cat}
    assert set(access.connections_changeable_by(cat)) == {made_by_cat}
    assert set(access.connections_changeable_by(bob)) == set()
    assert set(access.connections_changeable_by(ann)) == {support_inbox}


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_url_of_another_teams_connection_answers_404(
    signed_in, cat, support_inbox, name, method
):
    client = signed_in(cat)
    with mock.patch("connections.flows.connection_check", autospec=True) as tested:
        response = getattr(client, method)(reverse(f"connections:{name}", args=[support_inbox.pk]))
        nothing = getattr(client, method)(reverse(f"connections:{name}", args=[10**6]))
    # Exactly what an id that does not exist answers: 404, or 405 for a GET on a POST-only
    # action (whatever the id), so nothing tells that the connection exists.
    assert response.status_code == nothing.status_code
    assert response.status_code == (405 if method == "get" and name in ACTIONS else 404)
    tested.assert_not_called()
    assert Connection.objects.filter(pk=support_inbox.pk, name="Support inbox").exists()
    assert not Event.objects.exists()


def test_the_list_names_the_team_and_hides_other_teams(signed_in, cat, support_inbox, sales_inbox):
    text = signed_in(cat).get(reverse("connections:list")).content.decode()
    assert "Sales inbox" in text and "Team Sales" in text
    assert "Support inbox" not in text and "Support" not in text


def test_a_member_tests_a_team_connection_but_may_not_edit_it(signed_in, cat, sales_inbox):
    client = signed_in(cat)
    with mock.patch("connections.flows.connection_check", autospec=True) as tested:
        response = client.post(reverse("connections:test", args=[sales_inbox.pk]))
    assert response.status_code == 302
    tested.assert_called_once()
    assert client.get(reverse("connections:edit", args=[sales_inbox.pk])).status_code == 404
    assert client.post(reverse("connections:delete", args=[sales_inbox.pk])).status_code == 404
    page = client.get(reverse("connections:detail", args=[sales_inbox.pk])).content.decode()
    assert (
        "Test connection" in page and reverse("connections:edit", args=[sales_inbox.pk]) not in page
    )


def test_removing_someone_ends_their_access_at_once_even_to_what_they_created(
    signed_in, cat, dan, sales
):
    made_by_cat = token_connection_for("Cat's sales tool", cat, sales)
    client = signed_in(cat)
    assert client.get(reverse("connections:detail", args=[made_by_cat.pk])).status_code == 200
    services.member_remove(membership=Membership.objects.get(team=sales, user=cat))
    for name in URLS:
        url = reverse(f"connections:{name}", args=[made_by_cat.pk])
        assert client.post(url).status_code == 404
    assert not access.connections_visible_to(cat).exists()
    # The connection stays the team's: its admin still sees and changes it.
    assert access.user_may_change(dan, made_by_cat)


def test_a_new_connection_can_belong_to_one_of_the_users_teams_only(
    signed_in, cat, sales, support, checks_not_queued
):
    client = signed_in(cat)
    form_page = client.get(reverse("connections:new")).content.decode()
    assert "Just me" in form_page and "Sales" in form_page and "Support" not in form_page
    data = {"name": "Shared", "company_name": "Acme", "auth_type": "token", "api_token": "tok-1"}
    with mock.patch("connections.flows.connection_check", autospec=True):
        refused = client.post(reverse("connections:new"), {**data, "team": support.pk})
        assert refused.status_code == 200 and not Connection.objects.filter(name="Shared").exists()
        client.post(reverse("connections:new"), {**data, "team": sales.pk})
    shared = Connection.objects.get(name="Shared")
    assert shared.team == sales and shared.owner == cat


def test_names_are_unique_within_a_team_and_within_ones_own(bob, sales, sales_inbox):
    from connections import rules

    own = token_connection_for("Sales inbox", bob)  # the same name outside the team: fine
    assert own.team is None
    data = rules.ConnectionInput(
        name="SALES INBOX",
        company_name="A",
        auth_type="token",
        owner=bob,
        api_token="t",
        team=sales,
    )
    errors = rules.connection_validate(
        connection=None, data=data, token_policy=rules.TokenPolicy.KEEP_IF_BLANK
    )
    assert errors["name"][0].code == "name_taken_in_team"


def test_moving_needs_someone_who_administers_both_sides(
    signed_in, ann, bob, support, sales, support_inbox
):
    # bob is a member of both teams, an admin of neither: no Move for him.
    assert (
        signed_in(bob).get(reverse("connections:move", args=[support_inbox.pk])).status_code == 404
    )
    Membership.objects.filter(team=sales, user=bob).update(role=Role.ADMIN)
    Membership.objects.filter(team=support, user=bob).update(role=Role.ADMIN)
    client = signed_in(bob)
    response = client.post(reverse("connections:move", args=[support_inbox.pk]), {"team": sales.pk})
    assert response.status_code == 302
    support_inbox.refresh_from_db()
    assert support_inbox.team == sales
    entry = Event.objects.get(connection=support_inbox, action=Action.UPDATED)
    assert entry.message == "Moved from team \u201cSupport\u201d to team \u201cSales\u201d."
    assert entry.fields == ["team"] and entry.source == Source.SELF_SERVICE and entry.actor == bob
    # ann administers Support only: the connection is out of her reach now.
    assert not access.user_may_view(ann, support_inbox)


def test_operators_see_every_teams_connection_in_the_admin(
    operator_client, support_inbox, sales_inbox
):
    text = operator_client.get("/admin/connections/connection/").content.decode()
    assert "Support inbox" in text and "Sales inbox" in text
