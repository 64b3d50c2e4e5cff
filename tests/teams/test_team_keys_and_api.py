"""Team API keys and the API's team field: a key of one team never reaches another team's
connections (404 on every path and method); removing its creator from the team stops it."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from api.keys import apikey_authenticate, apikey_create
from api.models import ApiKey, KeyScope, Permission
from connections.models import Connection, Event
from teams import services
from teams.models import Membership, Role
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db

ALL = list(Permission.values)


def team_key(team, creator, permissions=ALL):
    return apikey_create(
        name="Helpdesk sync", owner=None, team=team, scope=KeyScope.TEAM,
        permissions=permissions, created_by=creator,
    )  # fmt: skip


def api(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def test_a_team_key_reaches_its_team_only(dan, sales, sales_inbox, support_inbox, bobs_own):
    client = api(team_key(sales, dan).plaintext)
    body = client.get("/api/v1/connections/").json()
    assert [row["name"] for row in body["results"]] == ["Sales inbox"]
    assert body["results"][0]["team"] == "Sales"


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("patch", ""), ("put", ""), ("delete", ""), ("post", "test/"),
     ("post", "access-token/")],
)  # fmt: skip
def test_every_api_path_of_another_teams_connection_answers_404(
    dan, sales, support_inbox, method, suffix
):
    client = api(team_key(sales, dan).plaintext)
    url = f"/api/v1/connections/{support_inbox.pk}/{suffix}"
    response = getattr(client, method)(url, {"name": "Taken"}, format="json")
    missing = getattr(client, method)(f"/api/v1/connections/10000000/{suffix}", {}, format="json")
    assert response.status_code == 404 == missing.status_code
    assert response.json() == missing.json()
    support_inbox.refresh_from_db()
    assert support_inbox.name == "Support inbox"


def test_the_api_filters_by_team_and_creates_in_the_keys_team(
    dan, sales, support, sales_inbox, checks_not_queued
):
    client = api(team_key(sales, dan).plaintext)
    assert client.get("/api/v1/connections/", {"team": "sales"}).json()["count"] == 1
    assert client.get("/api/v1/connections/", {"team": "Support"}).json()["count"] == 0
    made = client.post(
        "/api/v1/connections/",
        {"name": "Bot", "company_name": "Acme", "auth_type": "token", "api_token": "tok-2"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert made.json()["team"] == "Sales" and made.json()["owner"] == "dan"
    elsewhere = client.post(
        "/api/v1/connections/",
        {"name": "Bot 2", "company_name": "A", "auth_type": "token", "api_token": "t",
         "team": "Support"},
        format="json",
    )  # fmt: skip
    assert elsewhere.status_code == 400 and "team" in elsewhere.json()["fields"]
    assert not Connection.objects.filter(name="Bot 2").exists()


def test_removing_the_creator_from_the_team_stops_their_keys_which_stay(
    signed_in, ann, dan, sales, sales_inbox
):
    Membership.objects.create(team=sales, user=ann, role=Role.ADMIN)
    made = team_key(sales, ann)
    assert api(made.plaintext).get("/api/v1/connections/").status_code == 200
    services.member_remove(membership=Membership.objects.get(team=sales, user=ann))
    assert apikey_authenticate(made.plaintext) is None
    assert api(made.plaintext).get("/api/v1/connections/").status_code == 401
    key = ApiKey.objects.get(pk=made.key.pk)
    assert key.team == sales and key.owner is None and key.created_by == ann
    page = signed_in(dan).get(reverse("teams:detail", args=[sales.pk])).content.decode()
    assert "Helpdesk sync" in page and "Stopped: its creator is no longer in the team" in page


def test_a_demoted_creator_keeps_read_and_use_but_not_write(dan, cat, sales, sales_inbox):
    Membership.objects.filter(team=sales, user=cat).update(role=Role.ADMIN)
    writer = team_key(sales, cat)
    reader = team_key(sales, cat, permissions=["read", "token"])
    services.member_role_set(membership=Membership.objects.get(team=sales, user=cat), role="member")
    assert apikey_authenticate(writer.plaintext) is None
    assert apikey_authenticate(reader.plaintext) is not None


def test_only_the_teams_admins_issue_its_keys(bob, cat, sales):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Only the team's admins"):
        team_key(sales, cat)


def test_team_admins_create_a_key_shown_once_and_revoke_it(signed_in, dan, sales, sales_inbox):
    client = signed_in(dan)
    response = client.post(
        reverse("teams:key_new", args=[sales.pk]),
        {"name": "CRM", "permissions": ["read", "proxy"], "expires_in_days": "30"},
    )
    key = ApiKey.objects.get(name="CRM")
    assert response.url == reverse("teams:key_created", args=[sales.pk, key.pk])
    shown = client.get(response.url).content.decode()
    plaintext = shown.split('id="api-key-value"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert plaintext.startswith(key.prefix) and apikey_authenticate(plaintext) == key
    assert key.team == sales and key.created_by == dan and key.expires_at is not None
    again = client.get(response.url, follow=True).content.decode()
    assert plaintext not in again and "shown once" in again
    assert plaintext not in client.get(reverse("teams:detail", args=[sales.pk])).content.decode()
    client.post(reverse("teams:key_revoke", args=[sales.pk, key.pk]))
    assert apikey_authenticate(plaintext) is None


def test_members_and_other_teams_get_404_for_key_pages(signed_in, cat, ann, sales):
    key = team_key(sales, ApiKey._meta.get_field("created_by").related_model.objects.get(
        username="dan"
    )).key  # fmt: skip
    for user in (cat, ann):
        client = signed_in(user)
        assert (
            client.post(reverse("teams:key_new", args=[sales.pk]), {"name": "X"}).status_code == 404
        )
        assert client.post(reverse("teams:key_revoke", args=[sales.pk, key.pk])).status_code == 404
    assert not ApiKey.objects.filter(name="X").exists()
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_createapikey_makes_a_team_key_for_an_admin_only(dan, cat, sales, capsys):
    call_command(
        "createapikey", "Sync", "--owner", "dan", "--team", "sales", "--permission", "read"
    )
    key = ApiKey.objects.get(name="Sync")
    assert key.scope == KeyScope.TEAM and key.team == sales and key.created_by == dan
    assert key.owner is None
    assert "team Sales's connections" in capsys.readouterr().out
    with pytest.raises(CommandError, match="not an admin of team"):
        call_command("createapikey", "Sync", "--owner", "cat", "--team", "Sales")
    with pytest.raises(CommandError, match="no team is named"):
        call_command("createapikey", "Sync", "--owner", "dan", "--team", "Nope")


def test_a_member_uses_a_team_connection_through_a_team_key(dan, sales, sales_inbox):
    from connections.models import Status

    Connection.objects.filter(pk=sales_inbox.pk).update(status=Status.ONLINE)
    client = api(team_key(sales, dan, permissions=["token"]).plaintext)
    with mock.patch("api.credentials.bearer_for") as bearer:
        bearer.return_value = mock.Mock(token=API_TOKEN, expires_at=None)
        response = client.post(f"/api/v1/connections/{sales_inbox.pk}/access-token/")
    assert response.status_code == 200


def test_moving_through_the_api_needs_a_key_reaching_every_connection(
    operator, dan, sales, support, sales_inbox
):
    refused = api(team_key(sales, dan).plaintext).patch(
        f"/api/v1/connections/{sales_inbox.pk}/", {"team": "Support"}, format="json"
    )
    assert refused.status_code == 400 and "team" in refused.json()["fields"]
    everything = apikey_create(
        name="Ops", owner=operator, scope=KeyScope.ALL, permissions=ALL, created_by=operator
    )
    moved = api(everything.plaintext).patch(
        f"/api/v1/connections/{sales_inbox.pk}/", {"team": "support"}, format="json"
    )
    assert moved.status_code == 200 and moved.json()["team"] == "Support"
    entry = Event.objects.get(connection=sales_inbox)
    assert entry.message == "Moved from team \u201cSales\u201d to team \u201cSupport\u201d."
    assert entry.api_key_name == "Ops"
