"""Property tests: arbitrary input never causes a server error, a partial write or an echo."""

from __future__ import annotations

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from connections.forms import ConnectionForm
from connections.models import Connection, Event, PendingAuthorization

FUZZ = hsettings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
text = st.text(max_size=300)
ECHO_MARK = "ECHO-SECRET-"


@FUZZ
@given(
    name=text,
    company=text,
    auth_type=st.sampled_from(["token", "oauth2", "", "basic"]) | text,
    token=text,
    client=st.sampled_from(["", "1", "-1", "999999999999999999999", "x"]) | text,
    scopes=st.lists(st.sampled_from(["1", "2", "0", "a", "", "99999"]) | text, max_size=5),
)
def test_the_connection_form_never_fails_or_half_saves(
    owner, oauth_client, name, company, auth_type, token, client, scopes
):
    data = {
        "name": name,
        "company_name": company,
        "auth_type": auth_type,
        "api_token": ECHO_MARK + token,
        "oauth_client": client,
        "scopes": scopes,
    }
    before = Connection.objects.count()
    form = ConnectionForm(data=data, owner=owner)
    if form.is_valid():
        data = form.connection_input
        assert data is not None and data.auth_type in {"token", "oauth2"}
        if data.auth_type == "token":
            assert data.api_token
        else:
            assert data.oauth_client is not None and data.scopes
    else:
        assert form.errors
        rendered = str(form)
        assert ECHO_MARK not in rendered
    assert Connection.objects.count() == before


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["code", "state", "error", "iss", "error_description"]) | text,
        text,
        max_size=5,
    )
)
def test_the_callback_answers_any_query_string_calmly(client, owner, oauth_connection, params):
    client.force_login(owner)
    marked = {k: (ECHO_MARK + v if k == "code" else v) for k, v in params.items()}
    before = (Connection.objects.get(pk=oauth_connection.pk).status, Event.objects.count())
    response = client.get("/oauth/callback/", marked)
    assert response.status_code in {303, 403}
    assert ECHO_MARK.encode() not in response.content
    assert ECHO_MARK not in response.get("Location", "")
    assert before == (Connection.objects.get(pk=oauth_connection.pk).status, Event.objects.count())
    assert not PendingAuthorization.objects.filter(used_at__isnull=False).exists()


HEADER = "name,company_name,auth_type,api_token,oauth_client,scopes,owner\n"
cell = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)


@FUZZ
@given(
    rows=st.lists(st.lists(cell, min_size=0, max_size=9), max_size=6),
    header=st.booleans(),
    fmt=st.sampled_from(["csv", "json"]),
    junk=st.binary(max_size=60),
)
def test_the_import_parser_refuses_or_imports_whole_never_half(
    owner, oauth_client, front_scopes, rows, header, fmt, junk
):
    import csv
    import io
    import json

    from connections.bulk import connection_import
    from connections.bulk_formats import ImportRefused

    columns = HEADER.strip().split(",")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        if header:
            writer.writerow(columns)
        for row in rows:
            writer.writerow([ECHO_MARK + c if i == 3 else c for i, c in enumerate(row)])
        data = out.getvalue().encode("utf-8") + junk
    else:
        items = [
            {k: (ECHO_MARK + v if k == "api_token" else v) for k, v in zip(columns, row)}
            for row in rows
        ]
        data = json.dumps(items if header else {"rows": items}).encode() + junk[:1]
    before = Connection.objects.count()
    try:
        result = connection_import(stream=io.BytesIO(data), fmt=fmt, default_owner=owner)
    except ImportRefused as refused:
        assert refused.errors
        report = "\n".join(str(e) for e in refused.errors)
        assert ECHO_MARK not in report
        assert Connection.objects.count() == before
    else:
        assert Connection.objects.count() == before + result.created


def test_a_scope_id_beyond_any_column_is_an_invalid_choice(owner, oauth_client):
    # Found by the property test above: SQLite cannot even bind such an id, and the form failed.
    form = ConnectionForm(
        data={
            "name": "Support",
            "company_name": "Acme",
            "auth_type": "oauth2",
            "oauth_client": str(oauth_client.pk),
            "scopes": ["99999999999999999999"],
        },
        owner=owner,
    )
    assert not form.is_valid()
    assert form.errors["scopes"] == [
        "Select a valid choice. 99999999999999999999 is not one of the available choices."
    ]
    assert Connection.objects.count() == 0
