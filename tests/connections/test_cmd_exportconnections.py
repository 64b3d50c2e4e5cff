"""exportconnections: the import format with secrets blank, neutralised cells, round trips."""

from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from connections.models import AuthType, Connection, Event
from tests.conftest import API_TOKEN, CLIENT_SECRET


def export(**options) -> str:
    out = StringIO()
    call_command("exportconnections", stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def test_csv_has_every_column_and_no_secret(token_connection, oauth_connection):
    oauth_connection.access_token = "access-SECRET-4444"
    oauth_connection.refresh_token = "refresh-SECRET-5555"
    oauth_connection.save()
    text = export()
    rows = list(csv.DictReader(StringIO(text)))
    assert list(rows[0]) == [
        "name",
        "company_name",
        "auth_type",
        "api_token",
        "oauth_client",
        "scopes",
        "owner",
        "team",
    ]
    assert rows[0] == {
        "name": "Sales inbox",
        "company_name": "Acme",
        "auth_type": "oauth2",
        "api_token": "",
        "oauth_client": "Front app",
        "scopes": "contacts:read conversations:read",
        "owner": "alice",
        "team": "",
    }
    assert rows[1]["name"] == "Support inbox" and rows[1]["api_token"] == ""
    for secret in (API_TOKEN, CLIENT_SECRET, "access-SECRET-4444", "refresh-SECRET-5555"):
        assert secret not in text


def test_json_format_and_owner_filter(token_connection, stranger):
    Connection.objects.create(
        name="Theirs",
        company_name="X",
        auth_type=AuthType.TOKEN,
        owner=stranger,
        api_token=API_TOKEN,
    )
    data = json.loads(export(format="json", owner="alice"))
    assert data == [
        {
            "name": "Support inbox",
            "company_name": "Acme",
            "auth_type": "token",
            "api_token": "",
            "oauth_client": "",
            "scopes": "",
            "owner": "alice",
            "team": "",
        }
    ]


def test_empty_export_is_valid(db):
    assert json.loads(export(format="json")) == []
    assert export().splitlines() == [
        "name,company_name,auth_type,api_token,oauth_client,scopes,owner,team"
    ]


@pytest.mark.parametrize("name", ["=SUM(A1)", "+1", "-2", "@cmd", "\tTab", "\rCR"])
def test_formula_cells_are_neutralised(owner, name):
    Connection.objects.create(
        name=name,
        company_name="=HYPERLINK(x)",
        owner=owner,
        auth_type=AuthType.TOKEN,
        api_token=API_TOKEN,
    )
    row = next(csv.DictReader(StringIO(export())))
    assert row["name"] == "'" + name
    assert row["company_name"] == "'=HYPERLINK(x)"


def test_output_file_from_extension(tmp_path, token_connection):
    path = tmp_path / "out.json"
    out = StringIO()
    call_command("exportconnections", "-o", str(path), stdout=out)
    assert "Exported 1 connection to" in out.getvalue()
    assert json.loads(path.read_text())[0]["name"] == "Support inbox"


def test_unknown_owner_and_unwritable_path_are_usage_errors(tmp_path, owner):
    with pytest.raises(CommandError) as excinfo:
        export(owner="nobody")
    assert excinfo.value.returncode == 2
    with pytest.raises(CommandError) as excinfo:
        export(output=str(tmp_path / "missing" / "out.csv"))
    assert excinfo.value.returncode == 2 and "Cannot write" in str(excinfo.value)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_round_trip_with_update_changes_nothing(tmp_path, fmt, token_connection, oauth_connection):
    tricky = Connection.objects.create(
        name="-Leading dash",
        company_name="'=quoted",
        owner=token_connection.owner,
        auth_type=AuthType.TOKEN,
        api_token=API_TOKEN,
    )
    path = tmp_path / f"all.{fmt}"
    call_command("exportconnections", "-o", str(path), stdout=StringIO())
    before = list(Connection.objects.order_by("pk").values())
    events = Event.objects.count()
    out = StringIO()
    call_command("importconnections", str(path), update=True, stdout=out)
    assert "Created 0, updated 0, unchanged 3" in out.getvalue()
    assert list(Connection.objects.order_by("pk").values()) == before
    assert Event.objects.count() == events
    tricky.refresh_from_db()
    assert tricky.api_token == API_TOKEN


def test_export_into_fresh_installation_needs_tokens(tmp_path, token_connection):
    path = tmp_path / "all.csv"
    call_command("exportconnections", "-o", str(path), stdout=StringIO())
    Connection.objects.all().delete()
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("importconnections", str(path), update=True, stdout=StringIO(), stderr=err)
    assert "line 2, column api_token: Enter the API token from Front." in err.getvalue()
