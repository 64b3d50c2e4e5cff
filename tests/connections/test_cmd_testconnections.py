"""testconnections: a table of name, status and reason; exit 1 if any is not online."""

from __future__ import annotations

from io import StringIO
from unittest import mock

import pytest
import responses
from django.core.management import CommandError, call_command

from connections.health import CheckOutcome, CheckResult
from connections.models import Connection, Status

PATCH = "connections.checking.connection_check"


def fake_test(*, connection, actor, source):
    """Stand-in for the service: Support is online, anything else offline, with a reason."""
    online = connection.name == "Support inbox"
    connection.status = Status.ONLINE if online else Status.OFFLINE
    connection.last_check_result = "Online: Front company Acme." if online else "Front said 401."
    connection.save()
    result = CheckResult.ONLINE if online else CheckResult.REFUSED
    return CheckOutcome(connection, result, connection.last_check_result)


def test_all_online_exits_0_with_table(token_connection):
    out = StringIO()
    with mock.patch(PATCH, autospec=True, side_effect=fake_test) as tested:
        call_command("testconnections", stdout=out)
    tested.assert_called_once_with(connection=token_connection, actor=None, source="command")
    text = out.getvalue()
    assert "NAME" in text and "STATUS" in text and "REASON" in text
    assert "Support inbox" in text and "Online: Front company Acme." in text
    assert "1 connection is online." in text
    token_connection.refresh_from_db()
    assert token_connection.status == Status.ONLINE


def test_any_offline_exits_1_after_printing_table(token_connection, oauth_connection):
    out = StringIO()
    with mock.patch(PATCH, autospec=True, side_effect=fake_test):
        with pytest.raises(CommandError) as excinfo:
            call_command("testconnections", stdout=out)
    assert excinfo.value.returncode == 1
    assert "1 of 2 connections is not online" in str(excinfo.value)
    assert "Sales inbox" in out.getvalue() and "Front said 401." in out.getvalue()
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.OFFLINE


@pytest.mark.parametrize(
    "typed", ["support INBOX", "\uff53upport inbox", "\u0405upport Inbox", "Support\u200b Inbox"]
)
def test_names_are_matched_as_the_rules_compare_them(token_connection, oauth_connection, typed):
    # Case, width, cross-script look-alikes (Cyrillic Ѕ) and invisible characters.
    with mock.patch(PATCH, autospec=True, side_effect=fake_test) as tested:
        call_command("testconnections", typed, stdout=StringIO())
    assert [c.kwargs["connection"] for c in tested.call_args_list] == [token_connection]


def test_owner_and_status_filters(token_connection, oauth_connection, stranger):
    oauth_connection.status = Status.OFFLINE
    oauth_connection.save()
    with mock.patch(PATCH, autospec=True, side_effect=fake_test) as tested:
        call_command("testconnections", status="unchecked", owner="alice", stdout=StringIO())
    assert [c.kwargs["connection"] for c in tested.call_args_list] == [token_connection]
    out = StringIO()
    with mock.patch(PATCH, autospec=True) as tested:
        call_command("testconnections", owner="mallory", stdout=out)
    tested.assert_not_called()
    assert "No connections to test." in out.getvalue()


def test_unknown_name_or_owner_is_bad_usage(token_connection):
    with mock.patch(PATCH, autospec=True) as tested:
        with pytest.raises(CommandError) as excinfo:
            call_command("testconnections", "Support inbox", "Nope", stdout=StringIO())
        assert excinfo.value.returncode == 2 and "No connection matches: Nope." in str(
            excinfo.value
        )
        with pytest.raises(CommandError) as excinfo:
            call_command("testconnections", owner="nobody", stdout=StringIO())
        assert excinfo.value.returncode == 2
    tested.assert_not_called()


def test_unknown_status_is_refused(token_connection):
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("testconnections", "--status", "broken", stdout=StringIO())


def test_one_row_that_breaks_is_reported_and_the_rest_go_on(token_connection, oauth_connection):
    def breaks(*, connection, actor, source):
        if connection.name == "Sales inbox":
            raise RuntimeError("tok-SECRET")
        return fake_test(connection=connection, actor=actor, source=source)

    out = StringIO()
    with mock.patch(PATCH, autospec=True, side_effect=breaks) as tested:
        with pytest.raises(CommandError, match="1 of 2"):
            call_command("testconnections", stdout=out)
    assert tested.call_count == 2
    assert "Could not be tested (RuntimeError)" in out.getvalue()
    assert "tok-SECRET" not in out.getvalue()


@responses.activate
def test_a_stored_token_front_never_issues_is_one_offline_row(token_connection, owner, settings):
    """Issue 9 item 3: a token stored before validation existed, written directly."""
    settings.FRONT_API_URL = "https://api2.frontapp.com"
    responses.get("https://api2.frontapp.com/me", json={"id": "cmp_1", "name": "Acme"})
    broken = Connection(name="Euro", company_name="Acme", auth_type="token", owner=owner)
    broken.api_token = "tok€uro"
    broken.save()
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 2 connection"):
        call_command("testconnections", stdout=out)
    text = out.getvalue()
    assert "Euro" in text and "characters that Front never issues" in text
    assert "tok€uro" not in text and len(responses.calls) == 1  # only the good row reached Front
    broken.refresh_from_db()
    token_connection.refresh_from_db()
    assert broken.status == Status.OFFLINE and token_connection.status == Status.ONLINE


def test_names_are_printed_with_control_characters_escaped(token_connection):
    Connection.objects.filter(pk=token_connection.pk).update(name="Fake\x1b[2J\rAll online")
    out = StringIO()
    with mock.patch(PATCH, autospec=True, side_effect=fake_test):
        with pytest.raises(CommandError):
            call_command("testconnections", stdout=out)
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()
    assert "Fake\\x1b[2J\\rAll online" in out.getvalue()
