"""The self-service pages: list, new, detail, edit and delete of a member's own connections."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from common.crypto import UndecryptableSecret
from common.wording import said
from connections.models import Action, AuthType, Connection, Event, Scope, Source, Status
from connections.services import event_record
from tests.conftest import API_TOKEN, CLIENT_SECRET, store_unreadable
from tests.connections.outcomes import as_check

pytestmark = pytest.mark.django_db

NEW_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.new-token-SECRET-3333"


def online(*, connection, actor, source):
    connection.status = Status.ONLINE
    connection.front_company_id = "cmp_k30"
    connection.front_company_name = "Dunder Mifflin"
    connection.save()
    return connection


@pytest.fixture
def member(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def tested():
    with mock.patch(
        "connections.flows.connection_check", autospec=True, side_effect=as_check(online)
    ) as patched:
        yield patched


def make_connections(owner, count, start=0):
    rows = []
    for i in range(start, start + count):
        row = Connection(name=f"Inbox {i:03d}", company_name="Acme", owner=owner)
        row.api_token = API_TOKEN
        rows.append(row)
    Connection.objects.bulk_create(rows)


# The list


def test_list_shows_only_my_connections_with_status_in_words(member, token_connection, stranger):
    Connection.objects.create(name="Mallory's", company_name="Evil", owner=stranger)
    token_connection.status = Status.ONLINE
    token_connection.save()
    response = member.get(reverse("connections:list"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Support inbox" in body
    assert "Mallory" not in body
    assert 'class="status status-online"' in body
    assert ">Online</span>" in body


def test_list_has_a_helpful_empty_state(member):
    response = member.get(reverse("connections:list"))
    assert b"No connections yet" in response.content
    assert b"Add your first connection" in response.content


def test_list_pages_by_fifty(member, owner):
    make_connections(owner, 51)
    first = member.get(reverse("connections:list"))
    second = member.get(reverse("connections:list"), {"page": 2})
    assert first.content.count(b'<th scope="row"') == 50
    assert second.content.count(b'<th scope="row"') == 1
    assert b"Page 2 of 2" in second.content


def test_list_query_count_does_not_grow_with_rows(member, owner):
    make_connections(owner, 5)
    member.get(reverse("connections:list"))  # the process's first request checks the key
    with CaptureQueriesContext(db_connection) as five:
        assert member.get(reverse("connections:list")).status_code == 200
    make_connections(owner, 195, start=5)
    with CaptureQueriesContext(db_connection) as two_hundred:
        assert member.get(reverse("connections:list")).status_code == 200
    assert len(five) == len(two_hundred)


def test_list_shows_no_secret(member, token_connection):
    assert API_TOKEN.encode() not in member.get(reverse("connections:list")).content


def test_list_escapes_user_text(member, owner):
    Connection.objects.create(name="<script>x</script>", company_name="<b>Acme</b>", owner=owner)
    body = member.get(reverse("connections:list")).content
    assert b"<script>x</script>" not in body
    assert b"&lt;script&gt;x&lt;/script&gt;" in body


# The detail page


def test_detail_shows_status_company_scopes_and_history(member, oauth_connection, owner):
    oauth_connection.front_company_id = "cmp_k30"
    oauth_connection.front_company_name = "Dunder Mifflin"
    oauth_connection.save()
    event_record(
        connection=oauth_connection,
        action=Action.TESTED,
        source=Source.SELF_SERVICE,
        actor=owner,
        success=False,
        message="Front refused the token.",
    )
    body = member.get(oauth_connection.get_absolute_url()).content.decode()
    assert "Not authorized" in body
    assert "Dunder Mifflin" in body and "cmp_k30" in body
    assert "conversations:read" in body and "contacts:read" in body
    assert "Front refused the token." in body and "Failed" in body
    assert CLIENT_SECRET not in body


def test_detail_says_set_but_never_shows_the_token(member, token_connection):
    body = member.get(token_connection.get_absolute_url()).content
    assert API_TOKEN.encode() not in body
    assert b"Set, last changed" in body or b">Set" in body


def test_detail_says_when_a_secret_cannot_be_decrypted(member, token_connection, settings):
    store_unreadable(token_connection, "api_token", settings)
    response = member.get(token_connection.get_absolute_url())
    assert response.status_code == 200
    assert b"Cannot be decrypted: enter it again." in response.content


def test_detail_offers_post_forms_with_csrf_for_actions(member, oauth_connection):
    body = member.get(oauth_connection.get_absolute_url()).content.decode()
    for name in ("test", "authorize"):
        url = reverse(f"connections:{name}", args=[oauth_connection.pk])
        assert f'<form method="post" action="{url}"' in body
    assert body.count("csrfmiddlewaretoken") >= 3


# The form


def test_new_form_has_the_spec_labels_and_field_wrappers(member, oauth_client):
    body = member.get(reverse("connections:new")).content.decode()
    for label in (
        "Name your connection",
        "Company name",
        "Auth type",
        "API token",
        "OAuth 2.0 client",
        "Scopes",
    ):
        assert f">{label}:</label>" in body
    for name in ("name", "company_name", "auth_type", "api_token", "oauth_client", "scopes"):
        assert f'class="field field-{name}' in body
    assert 'class="selectfilter"' in body
    assert "admin/css/widgets.css" in body
    assert reverse("javascript-catalog") in body
    assert "connections/js/connection_form.js" in body
    assert 'name="_authorize" value="1" class="button" data-oauth-only' in body  # token first
    assert "Front app" in body
    assert CLIENT_SECRET not in body


def test_add_client_button_only_for_users_allowed_to_add_clients(member, owner, oauth_client):
    add_url = reverse("admin:oauthclients_oauthclient_add")
    assert add_url not in member.get(reverse("connections:new")).content.decode()
    owner.user_permissions.add(Permission.objects.get(codename="add_oauthclient"))
    body = member.get(reverse("connections:new")).content.decode()
    assert f"{add_url}?_to_field=id&amp;_popup=1" in body
    assert "admin/js/admin/RelatedObjectLookups.js" in body


def test_creating_a_token_connection_saves_it_and_tests_it(member, owner, tested):
    response = member.post(
        reverse("connections:new"),
        {"name": "Support", "company_name": "Acme", "auth_type": "token", "api_token": API_TOKEN},
        follow=True,
    )
    connection = Connection.objects.get(owner=owner, name="Support")
    assert connection.api_token == API_TOKEN
    tested.assert_called_once_with(connection=connection, actor=owner, source=Source.SELF_SERVICE)
    assert response.redirect_chain[-1][0] == connection.get_absolute_url()
    body = response.content.decode()
    assert "is saved" in body and "it is Online" in body
    assert API_TOKEN not in body
    created = Event.objects.get(connection=connection, action=Action.CREATED)
    assert created.source == Source.SELF_SERVICE and created.actor == owner


def test_creating_an_oauth_connection_does_not_test_it(member, owner, oauth_client, scopes, tested):
    response = member.post(
        reverse("connections:new"),
        {
            "name": "Sales",
            "company_name": "Acme",
            "auth_type": "oauth2",
            "oauth_client": oauth_client.pk,
            "scopes": [s.pk for s in scopes],
        },
    )
    connection = Connection.objects.get(owner=owner, name="Sales")
    assert response.status_code == 302
    assert response["Location"] == connection.get_absolute_url()
    assert set(connection.scopes.all()) == set(scopes)
    assert connection.status == Status.NOT_AUTHORIZED
    tested.assert_not_called()


def test_save_and_authorize_sends_the_member_to_front(member, owner, oauth_client, scopes):
    with mock.patch(
        "connections.flows.connection_authorize_start",
        autospec=True,
        return_value="https://front.example/oauth/authorize?state=x",
    ) as start:
        response = member.post(
            reverse("connections:new"),
            {
                "name": "Sales",
                "company_name": "Acme",
                "auth_type": "oauth2",
                "oauth_client": oauth_client.pk,
                "scopes": [s.pk for s in scopes],
                "_authorize": "1",
            },
        )
    connection = Connection.objects.get(owner=owner, name="Sales")
    assert response.status_code == 302
    assert response["Location"] == "https://front.example/oauth/authorize?state=x"
    kwargs = start.call_args.kwargs
    assert kwargs["connection"] == connection and kwargs["user"] == owner
    assert kwargs["return_url"] == connection.get_absolute_url()
    assert kwargs["source"] == Source.SELF_SERVICE


def test_invalid_input_gets_messages_in_words_and_changes_nothing(member, tested):
    response = member.post(
        reverse("connections:new"),
        {"name": "Support", "company_name": "Acme", "auth_type": "token", "api_token": ""},
    )
    assert response.status_code == 200
    assert b"Enter the API token from Front" in response.content
    assert b"nothing was saved" in response.content
    assert not Connection.objects.exists()
    tested.assert_not_called()


def test_a_rejected_post_never_echoes_the_submitted_token(member, token_connection, tested):
    response = member.post(
        reverse("connections:new"),
        {
            "name": "support INBOX",
            "company_name": "Acme",
            "auth_type": "token",
            "api_token": NEW_TOKEN,
        },
    )
    assert response.status_code == 200
    assert b"already exists" in response.content
    assert NEW_TOKEN.encode() not in response.content
    assert Connection.objects.count() == 1


def test_oauth_needs_a_client_and_scopes(member):
    response = member.post(
        reverse("connections:new"), {"name": "Sales", "company_name": "Acme", "auth_type": "oauth2"}
    )
    assert b"Choose the OAuth 2.0 client" in response.content
    assert b"Choose at least one scope." in response.content
    assert not Connection.objects.exists()


def test_edit_form_never_prefills_the_token_and_requires_it_again(member, token_connection, tested):
    url = reverse("connections:edit", args=[token_connection.pk])
    page = member.get(url).content
    assert API_TOKEN.encode() not in page
    assert b'value="Support inbox"' in page
    response = member.post(
        url, {"name": "Renamed", "company_name": "Acme", "auth_type": "token", "api_token": ""}
    )
    assert b"Enter the API token from Front" in response.content
    token_connection.refresh_from_db()
    assert token_connection.name == "Support inbox"
    assert token_connection.api_token == API_TOKEN


def test_edit_saves_records_the_changed_fields_and_tests_again(member, token_connection, tested):
    response = member.post(
        reverse("connections:edit", args=[token_connection.pk]),
        {"name": "Renamed", "company_name": "Acme", "auth_type": "token", "api_token": NEW_TOKEN},
    )
    token_connection.refresh_from_db()
    assert response.status_code == 302
    assert token_connection.name == "Renamed"
    assert token_connection.api_token == NEW_TOKEN
    updated = Event.objects.get(connection=token_connection, action=Action.UPDATED)
    assert "name" in updated.fields
    assert NEW_TOKEN not in str(updated.message) + str(updated.fields)
    tested.assert_called_once()


def test_switching_to_oauth_clears_the_token(member, token_connection, oauth_client, scopes):
    member.post(
        reverse("connections:edit", args=[token_connection.pk]),
        {
            "name": "Support inbox",
            "company_name": "Acme",
            "auth_type": "oauth2",
            "oauth_client": oauth_client.pk,
            "scopes": [scopes[0].pk],
        },
    )
    token_connection.refresh_from_db()
    assert token_connection.auth_type == AuthType.OAUTH2
    assert token_connection.api_token == ""
    assert list(token_connection.scopes.all()) == [scopes[0]]


# Delete


def test_delete_asks_for_confirmation_first(member, token_connection):
    response = member.get(reverse("connections:delete", args=[token_connection.pk]))
    assert response.status_code == 200
    assert b"Yes, delete it" in response.content
    assert Connection.objects.filter(pk=token_connection.pk).exists()


def test_delete_removes_it_and_keeps_a_history_entry(member, token_connection, owner):
    response = member.post(reverse("connections:delete", args=[token_connection.pk]), follow=True)
    assert not Connection.objects.filter(pk=token_connection.pk).exists()
    event = Event.objects.get(action=Action.DELETED, connection_name="Support inbox")
    assert event.actor == owner and event.source == Source.SELF_SERVICE
    assert b"is deleted" in response.content


# Access


@pytest.mark.parametrize("name", ["detail", "edit", "delete"])
def test_another_members_connection_is_not_found(client, stranger, token_connection, name):
    client.force_login(stranger)
    url = reverse(f"connections:{name}", args=[token_connection.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"name": "x"}).status_code == 404
    token_connection.refresh_from_db()
    assert token_connection.name == "Support inbox"


@pytest.mark.parametrize("name", ["list", "new"])
def test_pages_require_sign_in(client, name):
    response = client.get(reverse(f"connections:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_a_scope_added_by_an_operator_can_be_chosen(member, owner, oauth_client):
    extra = Scope.objects.create(code="custom:read", description="Custom")
    body = member.get(reverse("connections:new")).content.decode()
    assert f'value="{extra.pk}"' in body
    assert "custom:read" in body


def test_list_still_renders_when_secrets_cannot_be_decrypted(member, token_connection, settings):
    store_unreadable(token_connection, "api_token", settings)
    assert isinstance(Connection.objects.get().api_token, UndecryptableSecret)
    response = member.get(reverse("connections:list"))
    assert response.status_code == 200
    assert b"Support inbox" in response.content


def test_save_and_authorize_is_the_primary_button_of_an_oauth_connection(
    member, oauth_connection, token_connection
):
    # Issue 19 item 5: on an OAuth 2.0 connection, saving means authorizing.
    body = member.get(reverse("connections:edit", args=[oauth_connection.pk])).content.decode()
    primary = 'class="button primary" data-oauth-only data-primary-for="oauth2">Save and authorize'
    assert primary in body
    assert '<button type="submit" name="_save" class="button" data-primary-for="token">' in body

    body = member.get(reverse("connections:edit", args=[token_connection.pk])).content.decode()
    assert '<button type="submit" name="_save" class="button primary"' in body
    assert 'class="button" data-oauth-only data-primary-for="oauth2"' in body


def test_the_detail_page_does_not_repeat_the_status_in_the_check_sentence(
    member, online_token_connection
):
    # Issue 19 item 5: the badge says Online; "Online — Online: Front company …" said it twice.
    online_token_connection.last_check_result = said("check.online", company="Acme Corp.")
    online_token_connection.save()
    body = member.get(online_token_connection.get_absolute_url()).content.decode()
    assert "— Front company Acme Corp." in body
    assert "Online: Front company" not in body


def test_test_connection_on_the_edit_form_says_it_tests_the_stored_token(
    member, token_connection, oauth_connection
):
    # Issue 19 item 5: the button posts its own form, so what it tests must be said.
    body = member.get(reverse("connections:edit", args=[token_connection.pk])).content.decode()
    assert 'aria-describedby="test-scope">Test connection' in body
    assert "tests the stored API token, not one typed in this form" in body
    body = member.get(reverse("connections:edit", args=[oauth_connection.pk])).content.decode()
    assert "tests the stored authorization" in body
