"""A team connection's alerts go to the people who can act; import and export name the team."""

from __future__ import annotations

import csv
import io
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from alerts.models import AlertPreference
from alerts.services import connection_recipients
from connections.bulk import connection_import
from connections.bulk_formats import ImportRefused
from connections.models import Connection, Source, Status
from connections.status import connection_status_set
from teams.models import Membership
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db


def test_team_alerts_go_to_admins_and_members_who_opted_in(bob, cat, dan, sales, sales_inbox):
    assert [u.username for u in connection_recipients(sales_inbox)] == ["dan"]
    Membership.objects.filter(team=sales, user=cat).update(alerts=True)
    assert {u.username for u in connection_recipients(sales_inbox)} == {"dan", "cat"}
    AlertPreference.objects.create(user=dan, email_enabled=False)
    assert [u.username for u in connection_recipients(sales_inbox)] == ["cat"]


def test_the_creator_out_of_the_team_hears_nothing(cat, dan, sales, sales_inbox):
    Connection.objects.filter(pk=sales_inbox.pk).update(owner=cat)
    Membership.objects.filter(team=sales, user=cat).delete()
    sales_inbox.refresh_from_db()
    assert [u.username for u in connection_recipients(sales_inbox)] == ["dan"]


def test_operators_subscribed_to_everything_still_get_team_alerts(operator, sales_inbox):
    AlertPreference.objects.create(user=operator, all_connections=True)
    assert "op" in {u.username for u in connection_recipients(sales_inbox)}


@pytest.mark.django_db(transaction=True)
def test_an_outage_of_a_team_connection_emails_its_admin(
    dan, cat, sales, sales_inbox, front_scopes
):
    Membership.objects.filter(team=sales, user=cat).update(alerts=True)
    Connection.objects.filter(pk=sales_inbox.pk).update(status=Status.ONLINE)
    sales_inbox.refresh_from_db()
    connection_status_set(
        connection=sales_inbox, status=Status.OFFLINE, reason="Front refused the token.",
        source=Source.WORKER,
    )  # fmt: skip
    assert sorted(m.to[0] for m in mail.outbox) == ["cat@example.com", "dan@example.com"]
    assert all(API_TOKEN not in m.body for m in mail.outbox)


HEADER = "name,company_name,auth_type,api_token,oauth_client,scopes,owner,team\n"


def test_import_puts_rows_in_their_team_and_matches_names_within_it(
    bob, sales, sales_inbox, checks_not_queued
):
    rows = HEADER + (
        "Sales inbox,Globex,token,,,,dan,Sales\n"  # the team's row: updated
        "Sales inbox,Own,token,tok-own,,,bob,\n"  # bob's own of the same name: created
    )
    result = connection_import(stream=io.BytesIO(rows.encode()), fmt="csv", update=True)
    assert (result.created, result.updated) == (1, 1)
    sales_inbox.refresh_from_db()
    assert sales_inbox.company_name == "Globex" and sales_inbox.api_token == API_TOKEN
    assert Connection.objects.get(owner=bob, team__isnull=True).company_name == "Own"


def test_import_refuses_an_unknown_team(bob, checks_not_queued):
    rows = HEADER + "X,Acme,token,tok,,,bob,Nowhere\n"
    with pytest.raises(ImportRefused) as refused:
        connection_import(stream=io.BytesIO(rows.encode()), fmt="csv")
    assert "column team: no team has this name" in str(refused.value.errors[0])
    assert not Connection.objects.filter(name="X").exists()


def test_export_names_the_team(sales_inbox, bobs_own):
    out = StringIO()
    call_command("exportconnections", stdout=out)
    rows = {row["name"]: row["team"] for row in csv.DictReader(StringIO(out.getvalue()))}
    assert rows == {"Sales inbox": "Sales", "Bob's inbox": ""}
