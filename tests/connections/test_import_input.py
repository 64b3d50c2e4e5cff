"""importconnections against hostile input, and its write pass (issue 9, items 7-9, 12, 18)."""

from __future__ import annotations

import io
import json
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from connections import bulk
from connections.bulk import connection_import
from connections.bulk_formats import ImportRefused, header_problems, rows_read
from connections.models import Action, AuthType, Connection, Event, Status
from tests.conftest import API_TOKEN
from tests.connections.outcomes import as_check

pytestmark = pytest.mark.django_db

HEADER = "name,company_name,auth_type,api_token,oauth_client,scopes,owner\n"


def run_import(tmp_path, text: str | bytes, name: str = "in.csv", **options) -> tuple[str, str]:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    out, err = StringIO(), StringIO()
    call_command("importconnections", str(path), stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def refuse(tmp_path, text: str | bytes, name: str = "in.csv", **options) -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("importconnections", str(path), stdout=StringIO(), stderr=err, **options)
    assert not Event.objects.filter(action=Action.IMPORTED).exists()
    return err.getvalue()


def token_row(name: str, owner: str = "alice", company: str = "Acme") -> str:
    return f"{name},{company},token,{API_TOKEN},,,{owner}\n"


# Unicode names (item 7)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("\u00c4rzte GmbH", "\u00e4rzte gmbh"),
        ("Acme", "\uff21\uff23\uff2d\uff25"),
        ("Acme", "Acme\u200b"),
    ],
)
def test_look_alike_names_in_one_file_are_refused(tmp_path, owner, first, second):
    err = refuse(tmp_path, HEADER + token_row(first) + token_row(second))
    assert "line 3, column name: repeats the name of line 2" in err
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    ("stored", "row"),
    [("\u00c4rzte GmbH", "\u00e4rzte gmbh"), ("Acme", "\uff21\uff23\uff2d\uff25")],
)
def test_look_alike_of_a_stored_name_is_refused_without_update(tmp_path, owner, stored, row):
    Connection.objects.create(name=stored, company_name="Acme", owner=owner, api_token=API_TOKEN)
    err = refuse(tmp_path, HEADER + token_row(row))
    assert "this owner already has a connection with this name" in err


def test_update_matches_the_row_by_its_normalised_name(tmp_path, owner, stranger):
    mine = Connection.objects.create(
        name="\u00c4rzte GmbH", company_name="Acme", owner=owner, api_token=API_TOKEN
    )
    other = Connection.objects.create(
        name="\u00e4rzte gmbh", company_name="Acme", owner=stranger, api_token=API_TOKEN
    )
    out, _ = run_import(tmp_path, HEADER + "\u00e4rzte gmbh,Globex,token,,,,alice\n", update=True)
    assert "Created 0, updated 1, unchanged 0" in out
    mine.refresh_from_db()
    other.refresh_from_db()
    assert (mine.name, mine.company_name) == ("\u00c4rzte GmbH", "Globex")
    assert other.company_name == "Acme"
    assert Connection.objects.count() == 2


# Control characters and characters HTTP headers cannot carry (items 3 and 8)


def test_control_characters_and_non_ascii_tokens_are_refused_in_json(tmp_path, owner):
    rows = [
        {"name": "A\u0000", "company_name": "Acme", "auth_type": "token", "api_token": "t"},
        {"name": "B", "company_name": "\u001b[2J", "auth_type": "token", "api_token": "t"},
        {"name": "C", "company_name": "Acme", "auth_type": "token", "api_token": "tok\u20acuro"},
        {"name": "D", "company_name": "Acme", "auth_type": "token", "api_token": "t",
         "owner": "ali\u0000ce"},
    ]  # fmt: skip
    err = refuse(tmp_path, json.dumps(rows), "in.json", owner="alice")
    assert "index 0, column name: Remove the control characters" in err
    assert "index 1, column company_name: Remove the control characters" in err
    assert "index 2, column api_token: The API token may contain only printable ASCII" in err
    assert "index 3, column owner: no user has this username" in err
    assert "\x1b" not in err and "\u20ac" not in err


def test_tested_names_are_printed_escaped(tmp_path, owner):
    def named_with_escape_codes(*, connection, actor, source):
        # A name stored before control characters were refused.
        connection.name = "New\x1b[2J"
        return connection

    with mock.patch(
        "connections.checking.connection_check",
        autospec=True,
        side_effect=as_check(named_with_escape_codes),
    ):
        out, _ = run_import(tmp_path, HEADER + token_row("New"), test=True, verbosity=2)
    assert "\x1b" not in out and "New\\x1b[2J: Not checked yet" in out


def test_export_escapes_control_characters_on_a_terminal(owner):
    connection = Connection.objects.create(
        name="Old", company_name="Acme", owner=owner, api_token=API_TOKEN
    )
    Connection.objects.filter(pk=connection.pk).update(name="Old\x1b[2J")

    class Terminal(StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    call_command("exportconnections", stdout=terminal)
    assert "\x1b" not in terminal.getvalue() and "Old\\x1b[2J" in terminal.getvalue()
    file_like = StringIO()
    call_command("exportconnections", stdout=file_like)
    assert "Old\x1b[2J" in file_like.getvalue()  # files keep the data exact


# The parser (item 9)


def test_deep_nesting_is_refused_by_index(tmp_path, owner):
    good = {"name": "A", "company_name": "Acme", "auth_type": "token", "api_token": "t"}
    text = json.dumps([good])[:-1] + ", " + "[" * 200_000 + "]" * 200_000 + "]"
    err = refuse(tmp_path, text, "in.json", owner="alice")
    assert "index 1: an item is longer than" in err


def test_a_nested_value_is_refused_by_index_and_column(tmp_path, owner):
    text = '[{"name": "A", "company_name": {"a": [[[[1]]]]}, "auth_type": "token"}]'
    err = refuse(tmp_path, text, "in.json", owner="alice")
    assert "index 0, column company_name: must be text" in err


@pytest.mark.parametrize("digits", [5000, 500_000])
def test_a_huge_number_is_refused_by_index(tmp_path, owner, digits):
    good = '{"name": "A", "company_name": "Acme", "auth_type": "token", "api_token": "t"}'
    text = f'[{good}, {{"name": 1{"9" * digits}}}]'
    err = refuse(tmp_path, text, "in.json", owner="alice")
    assert "index 1: a number is longer than 1,000 digits" in err


def test_the_parser_never_echoes_the_input(tmp_path, owner):
    err = refuse(tmp_path, f'[{{"name": "{API_TOKEN}", ', "in.json", owner="alice")
    assert "index 0: malformed JSON" in err and API_TOKEN not in err
    err = refuse(tmp_path, f"[] {API_TOKEN}", "in.json", owner="alice")
    assert "unexpected content after the list" in err and API_TOKEN not in err


def test_unknown_scope_codes_are_not_echoed(tmp_path, owner, oauth_client, front_scopes):
    row = f"Sales,Acme,oauth2,,Front app,conversations:read {API_TOKEN},alice\n"
    err = refuse(tmp_path, HEADER + row)
    assert "line 2, column scopes: unknown scope code at position 2 of" in err
    assert API_TOKEN not in err


def test_a_header_of_40000_columns_is_checked_in_one_pass():
    class NoScans(list):
        """A header that fails the test if checked by scanning it once per column."""

        def count(self, value):
            raise AssertionError("list.count per column is quadratic")

        def index(self, value, *args):
            raise AssertionError("list.index per column is quadratic")

    columns = NoScans([f"c{i}" for i in range(40_000)] + ["name", "name"])
    problems = header_problems(columns, "line 1")
    assert len(problems) == 21
    assert str(problems[-1]) == "line 1: and 39,983 more problems with the columns"


# The write pass checks again (item 9) and writes only what changed (item 12)


def csv_stream(rows: int) -> io.BytesIO:
    return io.BytesIO((HEADER + "".join(token_row(f"C{i}") for i in range(rows))).encode())


def second_pass_reads(monkeypatch, first: io.BytesIO, second: io.BytesIO) -> None:
    passes = iter([first, second])
    real = rows_read
    monkeypatch.setattr(
        bulk, "rows_read", lambda stream, fmt, max_bytes=None: real(next(passes), fmt, max_bytes)
    )


def test_the_write_pass_checks_max_rows_again(owner, monkeypatch):
    second_pass_reads(monkeypatch, csv_stream(2), csv_stream(5))
    with pytest.raises(ImportRefused) as excinfo:
        connection_import(stream=io.BytesIO(), fmt="csv", max_rows=2)
    assert "more than 2 rows (--max-rows)" in str(excinfo.value.errors[0])
    assert not Connection.objects.exists()


def test_the_write_pass_checks_repeated_names_again(owner, monkeypatch):
    repeated = io.BytesIO((HEADER + token_row("A") + token_row("a")).encode())
    second_pass_reads(monkeypatch, csv_stream(2), repeated)
    with pytest.raises(ImportRefused) as excinfo:
        connection_import(stream=io.BytesIO(), fmt="csv")
    assert str(excinfo.value.errors[0]).startswith("line 3, column name: repeats the name")
    assert not Connection.objects.exists()


def test_the_write_pass_checks_the_size_again(owner, monkeypatch):
    second_pass_reads(monkeypatch, csv_stream(1), csv_stream(50))
    with pytest.raises(ImportRefused) as excinfo:
        connection_import(stream=io.BytesIO(), fmt="csv", max_bytes=1000)
    assert "larger than the limit of 1,000 bytes" in str(excinfo.value.errors[0])
    assert not Connection.objects.exists()


def test_the_write_pass_refuses_a_name_created_meanwhile(owner, monkeypatch):
    real = bulk._validate

    def then_someone_adds_it(**kwargs):
        count = real(**kwargs)
        Connection.objects.create(name="c0", company_name="x", owner=owner, api_token="t")
        return count

    monkeypatch.setattr(bulk, "_validate", then_someone_adds_it)
    with pytest.raises(ImportRefused) as excinfo:
        connection_import(stream=csv_stream(2), fmt="csv")
    assert "this owner already has a connection with this name" in str(excinfo.value.errors[0])
    assert Connection.objects.count() == 1


def test_update_never_writes_back_tokens_refreshed_meanwhile(
    tmp_path, owner, oauth_connection, monkeypatch
):
    oauth_connection.access_token, oauth_connection.refresh_token = "access-OLD", "refresh-OLD"
    oauth_connection.save()
    Connection.objects.filter(pk=oauth_connection.pk).update(status=Status.ONLINE)
    real = bulk._validate

    def then_a_refresh_lands(**kwargs):
        count = real(**kwargs)
        fresh = Connection.objects.get(pk=oauth_connection.pk)
        fresh.access_token, fresh.refresh_token = "access-NEW", "refresh-NEW"
        fresh.save(update_fields=["access_token", "refresh_token"])
        return count

    monkeypatch.setattr(bulk, "_validate", then_a_refresh_lands)
    row = "Sales inbox,Globex,oauth2,,Front app,contacts:read conversations:read,alice\n"
    with mock.patch("django.db.models.query.QuerySet.select_for_update", autospec=True,
                    side_effect=lambda qs, *a, **k: qs) as locked:  # fmt: skip
        out, _ = run_import(tmp_path, HEADER + row, update=True)
    assert locked.called  # the write pass locks the rows it changes
    assert "updated 1" in out
    stored = Connection.objects.get(pk=oauth_connection.pk)
    assert stored.company_name == "Globex" and stored.status == Status.ONLINE
    assert (stored.access_token, stored.refresh_token) == ("access-NEW", "refresh-NEW")
    assert Event.objects.get(action=Action.IMPORTED).fields == ["company_name"]


def test_update_with_test_tests_each_row_once(tmp_path, token_connection, owner):
    rows = "Support inbox,Globex,token,,,,alice\n" + token_row("New")
    with mock.patch(
        "connections.checking.connection_check",
        autospec=True,
        side_effect=as_check(lambda *, connection, actor, source: connection),
    ) as tested:
        out, _ = run_import(tmp_path, HEADER + rows, update=True, test=True)
    assert "Created 1, updated 1" in out
    assert tested.call_count == 2
    assert "Tested 2: 0 online" in out


def test_switching_a_row_to_oauth_voids_through_the_status_door(
    tmp_path, token_connection, oauth_client, scopes
):
    from connections.models import Transition

    Connection.objects.filter(pk=token_connection.pk).update(status=Status.ONLINE)
    row = "Support inbox,Acme,oauth2,,Front app,conversations:read,alice\n"
    run_import(tmp_path, HEADER + row, update=True)
    stored = Connection.objects.get(pk=token_connection.pk)
    assert stored.auth_type == AuthType.OAUTH2 and stored.status == Status.NOT_AUTHORIZED
    transition = Transition.objects.get()
    assert (transition.old_status, transition.source) == (Status.ONLINE, "command")
    event = Event.objects.get(action=Action.IMPORTED)
    assert event.fields == ["api_token", "auth_type", "oauth_client", "scopes"]
