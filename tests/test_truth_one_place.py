"""One place for each rule (issue 16 item 13): each is defined once and read by every caller."""

from __future__ import annotations

import pytest
import responses

from api import errors, serializers
from connections import front_types, rules
from connections.forms import ConnectionForm
from connections.front_types import FrontError, FrontErrorKind
from connections.models import Connection


def test_credential_refusal_kinds_are_defined_once_in_front_types(monkeypatch):
    # The API's 409 follows front_types' one definition, whatever it holds.
    monkeypatch.setattr(front_types, "CREDENTIAL_REFUSALS", frozenset({FrontErrorKind.REFUSED}))
    assert isinstance(errors.front_error(FrontError("no", kind="refused")), errors.Conflict)
    assert not isinstance(
        errors.front_error(FrontError("no", kind="unauthorized")), errors.Conflict
    )


@pytest.mark.parametrize(
    ("column", "limit", "api_field"),
    [
        ("name", "NAME_MAX_LENGTH", "name"),
        ("company_name", "COMPANY_NAME_MAX_LENGTH", "company_name"),
        ("api_token", "API_TOKEN_MAX_LENGTH", "api_token"),
    ],
)
def test_max_lengths_are_declared_on_the_model_and_read_by_rules_form_and_api(
    column, limit, api_field
):
    declared = Connection._meta.get_field(column).max_length
    assert declared is not None
    assert getattr(rules, limit) == declared
    assert serializers.ConnectionWriteSerializer().fields[api_field].max_length == declared
    assert ConnectionForm.base_fields[column].max_length == declared


EVENT_HOME = "connections/events.py"


def test_history_entries_are_made_in_one_place_only():
    # Every Event is built by connections.events.event_build: no module makes its own.
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r"(?<!class )\bEvent\(|\bEvent\.objects\.(create|bulk_create)\(")
    makers = [
        str(path.relative_to(root))
        for app in ("connections", "api", "alerts", "oauthclients", "common")
        for path in (root / app).rglob("*.py")
        if "migrations" not in path.parts and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert makers == [EVENT_HOME]


@pytest.mark.django_db
def test_the_form_the_api_and_the_import_write_changes_through_one_function(owner):
    import io
    from unittest import mock

    from connections.bulk import connection_import
    from connections.models import AuthType, Source

    data = rules.ConnectionInput(
        name="One", company_name="Acme", auth_type=AuthType.TOKEN, owner=owner, api_token="t-1"
    )
    rows = "name,company_name,auth_type,api_token,oauth_client,scopes,owner\n"
    rows += "Two,Acme,token,t-2,,,alice\n"
    with mock.patch.object(rules, "changes_write", wraps=rules.changes_write) as written:
        rules.connection_apply(
            connection=None, data=data, token_policy=rules.TokenPolicy.KEEP_IF_BLANK,
            actor=None, source=Source.API,
        )  # fmt: skip
        connection_import(stream=io.BytesIO(rows.encode()), fmt="csv")
    assert [call.kwargs.get("imported", False) for call in written.call_args_list] == [False, True]
    assert set(Connection.objects.values_list("name", flat=True)) == {"One", "Two"}


@pytest.mark.django_db
def test_the_admin_bulk_test_and_import_test_use_the_concurrent_checker(
    operator_client, token_connection, settings, tmp_path
):
    from io import StringIO
    from unittest import mock

    from django.core.management import call_command
    from django.urls import reverse

    from connections import checking
    from connections.checking import CheckReport

    settings.FRONTCONNECT_CHECK_CONCURRENCY = 5
    with mock.patch(
        "connections.admin.connections_check", autospec=True, return_value=CheckReport()
    ) as admin_checked:
        operator_client.post(
            reverse("admin:connections_connection_changelist"),
            {"action": "test_connections", "_selected_action": [token_connection.pk]},
        )
    assert admin_checked.call_args.kwargs["concurrency"] == 5
    assert list(admin_checked.call_args.args[0]) == [token_connection]
    csv = tmp_path / "in.csv"
    csv.write_text(
        "name,company_name,auth_type,api_token,oauth_client,scopes,owner\n"
        "Three,Acme,token,t-3,,,alice\n"
    )
    with mock.patch(
        "connections.management.commands.importconnections.connections_check",
        autospec=True,
        return_value=CheckReport(),
    ) as import_checked:
        call_command("importconnections", str(csv), test=True, stdout=StringIO())
    assert import_checked.call_args.kwargs["concurrency"] == 5
    assert checking.connections_check is not None


@responses.activate
@pytest.mark.django_db
def test_a_time_limited_run_leaves_the_rest_not_checked(token_connection):
    from connections.checking import OUT_OF_TIME, connections_check
    from connections.models import Source

    report = connections_check(
        [token_connection.pk], concurrency=4, source=Source.ADMIN, time_limit=0.0
    )
    assert (report.online, report.not_online, report.not_checked) == (0, 0, 1)
    assert report.results[0].result == OUT_OF_TIME
    assert not responses.calls


def test_the_admins_bulk_test_is_time_limited():
    from connections import admin

    assert 0 < admin.ADMIN_TEST_SECONDS <= 30


@pytest.mark.django_db
def test_the_writer_leaves_no_stale_prefetched_scopes(oauth_connection, scopes):
    from connections.models import AuthType, Scope, Source

    connection = Connection.objects.prefetch_related("scopes").get(pk=oauth_connection.pk)
    assert len(connection.scopes.all()) == 2
    one = Scope.objects.get(code="contacts:read")
    data = rules.ConnectionInput(
        name=connection.name, company_name=connection.company_name,
        auth_type=AuthType.OAUTH2, owner=connection.owner,
        oauth_client=connection.oauth_client, scopes=frozenset({one}),
    )  # fmt: skip
    rules.connection_apply(
        connection=connection, data=data, token_policy=rules.TokenPolicy.KEEP_IF_BLANK,
        actor=None, source=Source.API,
    )  # fmt: skip
    assert list(connection.scopes.all()) == [one]
