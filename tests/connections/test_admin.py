from __future__ import annotations

import pytest
import responses
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from connections.models import AuthType, Connection, Event, Scope, Status
from tests.conftest import API_TOKEN

ADD_URL = "/admin/connections/connection/add/"
LIST_URL = "/admin/connections/connection/"


@pytest.fixture(autouse=True)
def front_me():
    """Saving a Token connection tests it: Front's GET /me answers from here, not the network."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{settings.FRONT_API_URL}/me", json={"id": "cmp_1", "name": "Acme"})
        yield mock


def change_url(connection: Connection) -> str:
    return f"/admin/connections/connection/{connection.pk}/change/"


def token_post(owner, **overrides):
    data = {
        "name": "Support inbox",
        "company_name": "Acme",
        "auth_type": "token",
        "api_token": API_TOKEN,
        "owner": owner.pk,
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def oauth_post(owner, client, scopes, **overrides):
    data = token_post(owner, auth_type="oauth2", api_token="")
    data.update(name="Sales inbox", oauth_client=client.pk, scopes=[s.pk for s in scopes])
    data.update(overrides)
    return data


def assert_no_secret(response):
    assert API_TOKEN.encode() not in response.content


def test_the_add_form_has_the_six_labels_in_order(operator_client):
    response = operator_client.get(ADD_URL)
    html = response.content.decode()
    labels = [
        "Name your connection",
        "Company name",
        "Auth type",
        "API token",
        "OAuth 2.0 client",
        "Scopes",
    ]
    positions = [html.index(f">{label}:</label>") for label in labels]
    assert positions == sorted(positions)
    assert 'type="password"' in html
    assert "Settings > Company > Developers > API tokens" in html
    assert "selectfilter" in html  # the two-list selector
    assert 'id="add_id_oauth_client"' in html and 'id="change_id_oauth_client"' in html
    assert 'id="delete_id_oauth_client"' not in html


def test_it_adds_a_token_connection_with_the_token_encrypted(operator_client, owner):
    response = operator_client.post(ADD_URL, token_post(owner))
    assert response.status_code == 302
    connection = Connection.objects.get(name="Support inbox")
    assert connection.api_token == API_TOKEN
    assert connection.owner == owner
    assert connection.oauth_client is None
    assert Event.objects.filter(connection=connection, action="created", source="admin").exists()


def test_it_adds_an_oauth_connection_and_clears_a_stray_token(
    operator_client, owner, oauth_client, scopes
):
    data = oauth_post(owner, oauth_client, scopes, api_token=API_TOKEN)
    response = operator_client.post(ADD_URL, data)
    assert response.status_code == 302
    connection = Connection.objects.get(name="Sales inbox")
    assert connection.auth_type == AuthType.OAUTH2
    assert connection.api_token == ""
    assert set(connection.scopes.all()) == set(scopes)
    assert connection.status == Status.NOT_AUTHORIZED


def test_a_token_connection_drops_client_and_scopes_sent_anyway(
    operator_client, owner, oauth_client, scopes
):
    data = token_post(owner, oauth_client=oauth_client.pk, scopes=[s.pk for s in scopes])
    assert operator_client.post(ADD_URL, data).status_code == 302
    connection = Connection.objects.get(name="Support inbox")
    assert connection.oauth_client is None
    assert connection.scopes.count() == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"api_token": ""}, "Enter the API token from Front."),
        ({"api_token": "two words"}, "only printable ASCII characters without spaces"),
        ({"api_token": "tok\u20acuro"}, "only printable ASCII characters without spaces"),
        ({"name": "Inbox\x1b[2J"}, "Remove the control characters"),
        ({"company_name": "Acme\u202e"}, "Remove the control characters"),
        ({"api_token": "x" * 5000}, "at most 4096 characters"),
        ({"name": ""}, "This field is required."),
        ({"name": "n" * 101}, "at most 100 characters"),
        ({"company_name": ""}, "This field is required."),
        ({"auth_type": "basic"}, "Select a valid choice."),
    ],
)
def test_it_explains_every_token_error_and_saves_nothing(
    operator_client, owner, overrides, message
):
    response = operator_client.post(ADD_URL, token_post(owner, **overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Connection.objects.exists()
    assert_no_secret(response)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"oauth_client": ""}, "Choose the OAuth 2.0 client"),
        ({"scopes": []}, "Choose at least one scope."),
        ({"oauth_client": "999999"}, "Select a valid choice."),
    ],
)
def test_it_explains_every_oauth_error_and_saves_nothing(
    operator_client, owner, oauth_client, scopes, overrides, message
):
    data = oauth_post(owner, oauth_client, scopes)
    data.update(overrides)
    response = operator_client.post(ADD_URL, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Connection.objects.exists()


def test_names_are_unique_per_owner_ignoring_case(operator_client, owner, token_connection):
    response = operator_client.post(ADD_URL, token_post(owner, name="SUPPORT INBOX"))
    assert response.status_code == 200
    assert "already exists for this owner" in response.content.decode()
    assert Connection.objects.count() == 1


def test_the_same_name_is_fine_for_another_owner(operator_client, stranger, token_connection):
    response = operator_client.post(ADD_URL, token_post(stranger, name="Support inbox"))
    assert response.status_code == 302
    assert Connection.objects.filter(name="Support inbox").count() == 2


def test_the_database_enforces_the_name_rule_too(owner, token_connection):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Connection.objects.create(name="support INBOX", company_name="x", owner=owner)


def test_an_operator_changes_someone_elses_token_connection_without_its_token(
    operator_client, owner, stranger, token_connection
):
    page = operator_client.get(change_url(token_connection))
    assert page.status_code == 200
    assert_no_secret(page)
    assert "leave blank to keep the stored token" in page.content.decode()
    response = operator_client.post(
        change_url(token_connection),
        token_post(stranger, name="Moved inbox", company_name="Acme Ltd", api_token=""),
    )
    assert response.status_code == 302
    token_connection.refresh_from_db()
    assert token_connection.api_token == API_TOKEN
    assert (token_connection.name, token_connection.company_name) == ("Moved inbox", "Acme Ltd")
    assert token_connection.owner == stranger
    updated = Event.objects.get(connection=token_connection, action="updated")
    assert set(updated.fields) == {"name", "company_name", "owner"}


def test_staff_editing_their_own_token_connection_enter_the_token_again(operator_client, operator):
    connection = Connection(name="Mine", company_name="Acme", owner=operator)
    connection.api_token = API_TOKEN
    connection.save()
    response = operator_client.post(
        change_url(connection),
        token_post(operator, name="Mine", company_name="Acme Ltd", api_token=""),
    )
    assert response.status_code == 200
    assert "must be entered again" in response.content.decode()
    connection.refresh_from_db()
    assert connection.company_name == "Acme"

    new_token = "eyJ.new-token-SECRET-3333"
    response = operator_client.post(
        change_url(connection),
        token_post(operator, name="Mine", company_name="Acme Ltd", api_token=new_token),
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.api_token == new_token
    assert connection.company_name == "Acme Ltd"


def test_switching_an_oauth_connection_to_token_always_needs_a_token(
    operator_client, owner, oauth_connection
):
    data = token_post(owner, name=oauth_connection.name, api_token="")
    response = operator_client.post(change_url(oauth_connection), data)
    assert response.status_code == 200
    assert "Enter the API token from Front." in response.content.decode()
    oauth_connection.refresh_from_db()
    assert oauth_connection.auth_type == AuthType.OAUTH2


def test_switching_to_oauth_clears_the_token(
    operator_client, owner, token_connection, oauth_client, scopes
):
    data = oauth_post(owner, oauth_client, scopes, name="Support inbox")
    response = operator_client.post(change_url(token_connection), data)
    assert response.status_code == 302
    token_connection.refresh_from_db()
    assert token_connection.api_token == ""
    assert token_connection.auth_type == AuthType.OAUTH2


def test_no_secret_reaches_pages_or_the_admin_history(operator_client, owner):
    response = operator_client.post(ADD_URL, token_post(owner), follow=True)
    assert_no_secret(response)
    connection = Connection.objects.get()
    response = operator_client.post(
        change_url(connection), token_post(owner, company_name="B"), follow=True
    )
    assert_no_secret(response)
    # An invalid re-post must not echo the submitted token either.
    response = operator_client.post(change_url(connection), token_post(owner, name=""))
    assert_no_secret(response)
    entries = list(LogEntry.objects.all())
    assert len(entries) == 2
    for entry in entries:
        assert API_TOKEN not in entry.object_repr
        assert API_TOKEN not in entry.change_message
    assert API_TOKEN not in str(connection) and API_TOKEN not in repr(connection)
    for event in Event.objects.all():
        assert API_TOKEN not in event.message and API_TOKEN not in str(event.fields)


def test_events_are_shown_but_cannot_be_changed(operator_client, owner, token_connection):
    Event.objects.create(
        connection=token_connection,
        connection_name=token_connection.name,
        action="tested",
        source="admin",
        message="Front answered: company Acme",
    )
    page = operator_client.get(change_url(token_connection))
    assert b"Front answered: company Acme" in page.content
    event = Event.objects.get()
    assert operator_client.get(f"/admin/connections/event/{event.pk}/change/").status_code == 200
    assert (
        operator_client.post(f"/admin/connections/event/{event.pk}/change/", {}).status_code == 403
    )
    assert operator_client.get("/admin/connections/event/add/").status_code == 403
    assert operator_client.post(f"/admin/connections/event/{event.pk}/delete/").status_code == 403
    assert Event.objects.count() == 1


def test_the_changelist_lists_filters_and_searches(
    operator_client, owner, token_connection, oauth_client
):
    Connection.objects.create(name="Billing", company_name="Globex", owner=owner)
    page = operator_client.get(LIST_URL)
    html = page.content.decode()
    for heading in [">Name<", "Company name", "Auth type", "Status", "Owner"]:
        assert heading in html
    for heading in ["By Auth type", "By status", "By OAuth 2.0 client"]:
        assert heading in html
    found = operator_client.get(LIST_URL, {"q": "globex"}).content.decode()
    assert "Billing" in found and "Support inbox" not in found


def test_user_text_is_escaped(operator_client, owner):
    Connection.objects.create(name="<script>alert(1)</script>", company_name="x", owner=owner)
    html = operator_client.get(LIST_URL).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def count_changelist_queries(client) -> int:
    with CaptureQueriesContext(db) as queries:
        assert client.get(LIST_URL).status_code == 200
    return len(queries)


def test_the_changelist_query_count_does_not_grow(operator_client, owner, oauth_client):
    def make(n: int) -> None:
        Connection.objects.bulk_create(
            Connection(name=f"c{Connection.objects.count() + i}", company_name="x", owner=owner)
            for i in range(n)
        )

    make(5)
    count_changelist_queries(operator_client)  # the process's first request checks the key
    at_five = count_changelist_queries(operator_client)
    make(195)
    assert count_changelist_queries(operator_client) == at_five


def test_scopes_come_installed(db):
    assert Scope.objects.count() == 57
    assert Scope.objects.get(code="conversations:read").description == "Read conversations"


def test_the_history_is_searched_by_code_or_parameter_and_read_in_the_readers_language(
    operator_client, token_connection
):
    from common.wording import said

    for code, params in [("link.revoked", {"link": 7}), ("check.online", {"company": "Globex"})]:
        Event.objects.create(
            connection=token_connection,
            connection_name=token_connection.name,
            action="link",
            source="admin",
            message=said(code, **params),
        )
    url = "/admin/connections/event/"
    by_code = operator_client.get(url, {"q": "link.revoked"}).content.decode()
    assert "Authorization link 7 revoked." in by_code and "Globex" not in by_code
    by_param = operator_client.get(url, {"q": "Globex"}).content.decode()
    assert "Online: Front company Globex." in by_param and "link 7" not in by_param
    french = operator_client.get(url, {"q": "link.revoked"}, headers={"accept-language": "fr"})
    assert "Lien d\u2019autorisation 7 révoqué." in french.content.decode()
