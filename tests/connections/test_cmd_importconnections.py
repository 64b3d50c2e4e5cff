"""importconnections: validation before writing, exit codes, --update, --dry-run and --test."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from connections.models import Action, AuthType, Connection, Event, Status
from tests.conftest import API_TOKEN
from tests.connections.outcomes import as_check

HEADER = "name,company_name,auth_type,api_token,oauth_client,scopes,owner\n"
TOKEN_2 = "tok-SECRET-import-3333"


def write(tmp_path: Path, text: str | bytes, name: str = "in.csv") -> str:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return str(path)


def run(*args: str, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("importconnections", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def refused(*args: str, **options) -> tuple[CommandError, str]:
    err = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("importconnections", *args, stdout=StringIO(), stderr=err, **options)
    return excinfo.value, err.getvalue()


def test_csv_creates_token_and_oauth_connections_with_events(tmp_path, owner, oauth_client, scopes):
    path = write(
        tmp_path,
        HEADER
        + f"Support,Acme,token,{API_TOKEN},,,alice\r\n"
        + "Sales,Acme,oauth2,,Front app,conversations:read contacts:read,alice\r\n",
    )
    out, _ = run(path)
    assert "Created 2, updated 0, unchanged 0, in " in out
    support = Connection.objects.get(name="Support")
    assert support.owner == owner and support.api_token == API_TOKEN
    assert support.auth_type == AuthType.TOKEN
    sales = Connection.objects.get(name="Sales")
    assert sales.status == Status.NOT_AUTHORIZED and sales.oauth_client == oauth_client
    assert set(sales.scopes.all()) == set(scopes)
    events = Event.objects.filter(action=Action.IMPORTED, source="command")
    assert sorted(e.connection_name for e in events) == ["Sales", "Support"]
    assert API_TOKEN not in out


def test_json_with_default_owner_and_scope_list(tmp_path, owner, oauth_client):
    rows = [
        {"name": "A", "company_name": "Acme", "auth_type": "token", "api_token": API_TOKEN},
        {
            "name": "B",
            "company_name": "Acme",
            "auth_type": "oauth2",
            "oauth_client": "Front app",
            "scopes": ["conversations:read"],
            "owner": None,
        },
    ]
    path = write(tmp_path, json.dumps(rows), "in.json")
    out, _ = run(path, owner="alice")
    assert "Created 2," in out
    assert set(Connection.objects.filter(owner=owner).values_list("name", flat=True)) == {"A", "B"}


def test_bom_and_crlf_are_accepted(tmp_path, owner):
    data = ("\ufeff" + HEADER + f"Support,Acme,token,{API_TOKEN},,,alice\r\n").encode("utf-8")
    out, _ = run(write(tmp_path, data))
    assert "Created 1," in out
    assert Connection.objects.get().name == "Support"


def test_stdin_is_read_with_format(monkeypatch, owner):
    data = (HEADER + f"Support,Acme,token,{API_TOKEN},,,alice\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    out, _ = run("-", format="csv")
    assert "Created 1," in out
    assert Connection.objects.filter(name="Support").exists()


@pytest.mark.parametrize(
    "row, column, reason",
    [
        (f"X,Acme,basic,{API_TOKEN},,,alice", "auth_type", "Choose the auth type"),
        ("X,Acme,token,,,,alice", "api_token", "needs an API token"),
        ("X,Acme,oauth2,,,conversations:read,alice", "oauth_client", "Choose the OAuth 2.0 client"),
        ("X,Acme,oauth2,,Front app,,alice", "scopes", "Choose at least one scope"),
        ("X,Acme,oauth2,,Nope,conversations:read,alice", "oauth_client", "no OAuth 2.0 client"),
        ("X,Acme,oauth2,,Front app,nope:read,alice", "scopes", "unknown scope"),
        (f"X,Acme,token,{API_TOKEN},,,nobody", "owner", "no user has this username"),
        (f"X,Acme,token,{API_TOKEN},,,", "owner", "no --owner"),
        (f"{'n' * 101},Acme,token,{API_TOKEN},,,alice", "name", "at most 100 characters"),
        (f"X,,token,{API_TOKEN},,,alice", "company_name", "Enter the company name"),
        ("X,Acme,token,tok en,,,alice", "api_token", "only printable ASCII"),
        ("X,Acme,token,tok\u20acuro,,,alice", "api_token", "only printable ASCII"),
        (f"X\x1b[2J,Acme,token,{API_TOKEN},,,alice", "name", "Remove the control characters"),
        (f"X,Acme\x00,token,{API_TOKEN},,,alice", "company_name", "control characters"),
        (f"X,Acme,token,{API_TOKEN},,,ali\x00ce", "owner", "no user has this username"),
        (f"X,Acme,oauth2,{API_TOKEN},Front app,conversations:read,alice", "api_token", "blank"),
    ],
)
def test_each_bad_row_is_reported_by_line_and_column(
    tmp_path, owner, oauth_client, row, column, reason
):
    good = f"Good,Acme,token,{API_TOKEN},,,alice"
    error, err = refused(write(tmp_path, HEADER + good + "\n" + row + "\n"))
    assert error.returncode == 1
    assert f"line 3, column {column}: " in err and reason in err
    assert "nothing was written" in str(error)
    assert API_TOKEN not in err and API_TOKEN not in str(error)
    assert not Connection.objects.exists() and not Event.objects.exists()


def test_every_bad_row_is_listed(tmp_path, owner):
    rows = "A,Acme,token,,,,alice\nB,Acme,bad,,,,alice\nC,Acme,token,,,,alice\n"
    _, err = refused(write(tmp_path, HEADER + rows))
    assert "line 2, column api_token" in err
    assert "line 3, column auth_type" in err
    assert "line 4, column api_token" in err


def test_name_repeated_in_file_ignoring_case(tmp_path, owner):
    rows = f"Support,Acme,token,{API_TOKEN},,,alice\nSUPPORT,Acme,token,{API_TOKEN},,,alice\n"
    _, err = refused(write(tmp_path, HEADER + rows))
    assert "line 3, column name: repeats the name of line 2" in err
    assert not Connection.objects.exists()


def test_same_name_for_different_owners_is_fine(tmp_path, owner, stranger):
    rows = f"Support,Acme,token,{API_TOKEN},,,alice\nSupport,Acme,token,{API_TOKEN},,,mallory\n"
    out, _ = run(write(tmp_path, HEADER + rows))
    assert "Created 2," in out


def test_existing_name_without_update_is_refused(tmp_path, token_connection):
    row = f"support inbox,Other,token,{TOKEN_2},,,alice\n"
    _, err = refused(write(tmp_path, HEADER + row))
    assert "line 2, column name: this owner already has a connection" in err
    token_connection.refresh_from_db()
    assert token_connection.company_name == "Acme" and token_connection.api_token == API_TOKEN


def test_update_changes_existing_and_keeps_blank_token(tmp_path, token_connection):
    path = write(tmp_path, HEADER + "Support inbox,Globex,token,,,,alice\n")
    out, _ = run(path, update=True)
    assert "Created 0, updated 1, unchanged 0" in out
    token_connection.refresh_from_db()
    assert token_connection.company_name == "Globex"
    assert token_connection.api_token == API_TOKEN
    event = Event.objects.get(action=Action.IMPORTED)
    assert event.fields == ["company_name"] and event.connection == token_connection
    out, _ = run(path, update=True)
    assert "Created 0, updated 0, unchanged 1" in out
    assert Event.objects.filter(action=Action.IMPORTED).count() == 1


def test_update_with_new_token_replaces_it(tmp_path, token_connection):
    out, _ = run(
        write(tmp_path, HEADER + f"Support inbox,Acme,token,{TOKEN_2},,,alice\n"), update=True
    )
    assert "updated 1" in out
    token_connection.refresh_from_db()
    assert token_connection.api_token == TOKEN_2
    assert Event.objects.get(action=Action.IMPORTED).fields == ["api_token"]


def test_update_token_to_oauth_voids_old_sign_in(tmp_path, token_connection, oauth_client, scopes):
    token_connection.status = Status.ONLINE
    token_connection.save()
    row = "Support inbox,Acme,oauth2,,Front app,conversations:read,alice\n"
    run(write(tmp_path, HEADER + row), update=True)
    token_connection.refresh_from_db()
    assert token_connection.auth_type == AuthType.OAUTH2
    assert token_connection.api_token == "" and token_connection.status == Status.NOT_AUTHORIZED
    assert [s.code for s in token_connection.scopes.all()] == ["conversations:read"]


def test_update_oauth_to_token_needs_a_token(tmp_path, oauth_connection):
    _, err = refused(write(tmp_path, HEADER + "Sales inbox,Acme,token,,,,alice\n"), update=True)
    assert "line 2, column api_token: Enter the API token from Front. A Token connection" in err


def test_update_changes_scopes(tmp_path, oauth_connection):
    run(
        write(tmp_path, HEADER + "Sales inbox,Acme,oauth2,,Front app,contacts:read,alice\n"),
        update=True,
    )
    assert [s.code for s in oauth_connection.scopes.all()] == ["contacts:read"]
    assert Event.objects.get(action=Action.IMPORTED).fields == ["scopes"]


def test_dry_run_counts_and_writes_nothing(tmp_path, token_connection):
    rows = "Support inbox,Globex,token,,,,alice\n" + f"New,Acme,token,{API_TOKEN},,,alice\n"
    out, _ = run(write(tmp_path, HEADER + rows), update=True, dry_run=True)
    assert "Dry run: would create 1, would update 1, unchanged 0, errors 0" in out
    assert list(Connection.objects.values_list("name", "company_name")) == [
        ("Support inbox", "Acme")
    ]
    assert not Event.objects.exists()


def test_dry_run_reports_errors_too(tmp_path, owner):
    error, err = refused(write(tmp_path, HEADER + "X,Acme,token,,,,alice\n"), dry_run=True)
    assert error.returncode == 1 and "column api_token" in err


@pytest.mark.parametrize(
    "header, message",
    [
        ("name,company_name,auth_type,colour\n", "column colour: unknown column"),
        ("name,auth_type\n", "column company_name: this required column is missing"),
        ("name,name,company_name,auth_type\n", "column name: this column is repeated"),
    ],
)
def test_bad_header_is_refused(tmp_path, owner, header, message):
    _, err = refused(write(tmp_path, header + "a,b,c,d\n"))
    assert "line 1, " + message in err


def test_cells_not_matching_header_are_refused(tmp_path, owner):
    _, err = refused(write(tmp_path, HEADER + "A,Acme,token\n"))
    assert "line 2: has 3 cells but the header has 7 columns" in err


def test_malformed_csv_is_refused(tmp_path, owner):
    _, err = refused(write(tmp_path, HEADER + 'A,"Acme"x,token,t,,,alice\n'))
    assert "line 2: malformed CSV" in err


def test_empty_input_is_refused(tmp_path, owner):
    _, err = refused(write(tmp_path, ""))
    assert "the input is empty" in err


def test_text_that_is_not_utf8_is_refused(tmp_path, owner):
    data = (HEADER + "Caf\xe9,Acme,token,t,,,alice\n").encode("latin-1")
    _, err = refused(write(tmp_path, data))
    assert "not UTF-8" in err
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"name": "x"}', "index 0: the JSON input must be a list of objects"),
        ('[{"name": "x",', "index 0: malformed JSON"),
        ('["x"]', "index 0: each item of the list must be an object"),
        (
            '[{"name": "x", "company_name": "A", "auth_type": "token", "api_token": 5}]',
            "index 0, column api_token: must be text",
        ),
        (
            '[{"name": "x", "company_name": "A", "auth_type": "token", "colour": "red"}]',
            "index 0, column colour: unknown column",
        ),
        ('[{"name": "x", "auth_type": "token"}]', "index 0, column company_name: this required"),
        ("[] trailing", "unexpected content after the list"),
    ],
)
def test_bad_json_is_refused(tmp_path, owner, text, message):
    _, err = refused(write(tmp_path, text, "in.json"), owner="alice")
    assert message in err
    assert not Connection.objects.exists()


def test_more_rows_than_max_rows_is_refused(tmp_path, owner):
    rows = "".join(f"C{i},Acme,token,{API_TOKEN},,,alice\n" for i in range(3))
    error, err = refused(write(tmp_path, HEADER + rows), max_rows=2)
    assert error.returncode == 1 and "more than 2 rows (--max-rows)" in err
    assert not Connection.objects.exists()


def test_file_larger_than_max_bytes_is_refused(tmp_path, owner):
    error, err = refused(
        write(tmp_path, HEADER + f"A,Acme,token,{API_TOKEN},,,alice\n"), max_bytes=20
    )
    assert error.returncode == 1 and "larger than the limit of 20 bytes" in err


def test_stdin_larger_than_max_bytes_is_refused(monkeypatch, owner):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 100)))
    error, err = refused("-", format="csv", max_bytes=50)
    assert "larger than the limit" in err


@pytest.mark.parametrize(
    "args, options, message",
    [
        (["in.txt"], {}, "Cannot tell the format"),
        (["-"], {}, "Cannot tell the format"),
        (["missing.csv"], {}, "Cannot read"),
        (["in.csv"], {"owner": "nobody"}, "no user is named 'nobody'"),
        (["in.csv"], {"max_rows": 0}, "must be positive"),
    ],
)
def test_bad_usage_exits_2(tmp_path, owner, monkeypatch, args, options, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, HEADER)
    write(tmp_path, HEADER, "in.txt")
    error, _ = refused(*args, **options)
    assert error.returncode == 2 and message in str(error)


def test_exit_codes_from_the_command_line(tmp_path, owner):
    """The process exits 1 when the input is refused and 2 on bad usage, as SPEC says."""
    bad = write(tmp_path, HEADER + "X,Acme,token,,,,alice\n")
    base = [sys.executable, "manage.py", "importconnections"]
    env = {
        "DJANGO_SETTINGS_MODULE": "frontconnect.test_settings",
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    root = Path(settings.BASE_DIR)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert migrate.returncode == 0, migrate.stderr
    refused_run = subprocess.run(
        [*base, bad, "--owner", "x"], cwd=root, env=env, capture_output=True, text=True
    )
    assert refused_run.returncode == 2 and "no user is named" in refused_run.stderr
    usage = subprocess.run([*base, "in.txt"], cwd=root, env=env, capture_output=True, text=True)
    assert usage.returncode == 2
    unknown_option = subprocess.run(
        [*base, bad, "--colour"], cwd=root, env=env, capture_output=True, text=True
    )
    assert unknown_option.returncode == 2
    refused_input = subprocess.run([*base, bad], cwd=root, env=env, capture_output=True, text=True)
    assert refused_input.returncode == 1
    assert "line 2, column owner" in refused_input.stderr


def test_no_progress_bar_when_output_is_not_a_terminal(tmp_path, owner):
    out, err = run(write(tmp_path, HEADER + f"A,Acme,token,{API_TOKEN},,,alice\n"))
    assert "rows" not in out + err and "%" not in out + err


def test_progress_bar_on_a_terminal(tmp_path, owner):
    class Terminal(StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    call_command(
        "importconnections",
        write(tmp_path, HEADER + f"A,Acme,token,{API_TOKEN},,,alice\n"),
        stdout=out,
        stderr=StringIO(),
    )
    assert "Importing" in out.getvalue() and "rows" in out.getvalue()
    quiet = Terminal()
    call_command(
        "importconnections",
        write(tmp_path, HEADER + f"B,Acme,token,{API_TOKEN},,,alice\n"),
        stdout=quiet,
        stderr=StringIO(),
        verbosity=0,
    )
    assert quiet.getvalue() == ""


def test_test_option_tests_each_imported_connection(tmp_path, owner):
    rows = f"A,Acme,token,{API_TOKEN},,,alice\nB,Acme,token,{API_TOKEN},,,alice\n"

    def fake(*, connection, actor, source):
        connection.status = Status.ONLINE if connection.name == "A" else Status.OFFLINE
        connection.save()
        return connection

    with mock.patch(
        "connections.checking.connection_check", autospec=True, side_effect=as_check(fake)
    ) as tested:
        out, _ = run(write(tmp_path, HEADER + rows), test=True)
    assert tested.call_count == 2
    assert {c.kwargs["source"] for c in tested.call_args_list} == {"command"}
    assert "Tested 2: 1 online, 1 not online, 0 not checked." in out
    assert Connection.objects.get(name="A").status == Status.ONLINE


def test_test_option_is_skipped_on_dry_run(tmp_path, owner):
    with mock.patch("connections.checking.connection_check", autospec=True) as tested:
        run(
            write(tmp_path, HEADER + f"A,Acme,token,{API_TOKEN},,,alice\n"), test=True, dry_run=True
        )
    tested.assert_not_called()


def test_refuses_when_the_key_cannot_read_stored_secrets(tmp_path, token_connection, settings):
    settings.FRONTCONNECT_ENCRYPTION_KEY = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMTI="
    error, err = refused(write(tmp_path, HEADER + f"A,Acme,token,{API_TOKEN},,,alice\n"))
    assert "FRONTCONNECT_ENCRYPTION_KEY cannot decrypt" in str(error) + err
    assert Connection.objects.count() == 1


def test_refuses_when_the_key_is_not_the_recorded_one_even_with_nothing_stored(
    tmp_path, owner, settings
):
    from connections.keys import encryption_key_check

    encryption_key_check()  # records the current key, as migrate does
    settings.FRONTCONNECT_ENCRYPTION_KEY = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMTI="
    error, err = refused(write(tmp_path, HEADER + f"A,Acme,token,{API_TOKEN},,,alice\n"))
    assert "is not the key this database's secrets were written with" in str(error) + err
    assert API_TOKEN not in str(error) + err
    assert not Connection.objects.exists()


def test_a_file_without_header_does_not_echo_its_first_row(tmp_path, owner):
    error, err = refused(write(tmp_path, f"A,Acme,token,{API_TOKEN},,,alice\n"))
    assert API_TOKEN not in err
    assert "this is not a header row" in err
    assert "column nmae: unknown column" in refused(write(tmp_path, "nmae\n"))[1]


def test_a_token_shaped_cell_in_a_header_is_never_echoed(tmp_path, owner):
    # A file without a header, whose first row happens to hold a column name, still hides the
    # token-shaped cells: only cells shaped like column names are named.
    hexes = "0123456789abcdef0123456789abcdef01234567"
    letters_digits = "sk9Live2Abc3Def4Ghi5"
    row = f"name,Acme,token,{hexes},{letters_digits},,alice\n"
    _, err = refused(write(tmp_path, row))
    assert hexes not in err and letters_digits not in err
    assert "#4 (not shown)" in err and "#5 (not shown)" in err
