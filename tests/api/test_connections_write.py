from __future__ import annotations

import pytest

from api.models import KeyScope, Permission
from connections.models import AuthType, Connection, Event, Source, Status
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db

URL = "/api/v1/connections/"
NEW_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.new-token-SECRET-3333"


def token_body(**overrides):
    return {
        "name": "Billing",
        "company_name": "Acme",
        "auth_type": AuthType.TOKEN,
        "api_token": NEW_TOKEN,
        **overrides,
    }


def test_it_creates_a_token_connection_for_the_keys_owner(full_api, owner):
    response = full_api.post(URL, token_body(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["owner"] == "alice" and body["secrets"]["api_token"] == "set"
    assert NEW_TOKEN not in response.content.decode()
    connection = Connection.objects.get(pk=body["id"])
    assert str(connection.api_token) == NEW_TOKEN
    event = Event.objects.get(connection=connection)
    assert event.source == Source.API and event.actor == owner


def test_it_creates_an_oauth_connection(full_api, oauth_client, scopes):
    response = full_api.post(
        URL,
        {
            "name": "OAuth one",
            "company_name": "Acme",
            "auth_type": AuthType.OAUTH2,
            "oauth_client": oauth_client.pk,
            "scopes": ["conversations:read", "contacts:read"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["oauth_client"] == {"id": oauth_client.pk, "name": "Front app"}
    assert sorted(body["scopes"]) == ["contacts:read", "conversations:read"]
    assert body["status"] == Status.NOT_AUTHORIZED


def test_the_forms_rules_apply(full_api, front_scopes):
    response = full_api.post(URL, token_body(api_token=""), format="json")
    assert response.status_code == 400
    assert "api_token" in response.json()["fields"]
    response = full_api.post(URL, token_body(auth_type=AuthType.OAUTH2), format="json")
    assert response.status_code == 400
    assert {"oauth_client", "scopes"} <= set(response.json()["fields"])
    response = full_api.post(URL, token_body(scopes=["no:such"]), format="json")
    assert response.status_code == 400
    assert not Connection.objects.exists()


def test_a_taken_name_is_409(full_api, token_connection):
    response = full_api.post(URL, token_body(name="SUPPORT inbox"), format="json")
    assert response.status_code == 409
    assert "already exists" in response.json()["error"]


def test_an_owner_outside_the_keys_reach_is_refused(full_api, stranger):
    response = full_api.post(URL, token_body(owner="mallory"), format="json")
    assert response.status_code == 400
    assert "owner" in response.json()["fields"]
    assert not Connection.objects.exists()


def test_a_key_that_does_not_reach_its_owner_must_name_the_owner(make_key, api, owner, operator):
    # An operator's key for alice's connections: without "owner" the new connection would be
    # the operator's, outside the key's reach (it used to be created, then answered 500).
    made = make_key([Permission.READ, Permission.WRITE], key_owner=operator, users=[owner])
    client = api(made.plaintext)
    response = client.post(URL, token_body(), format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["owner"] == [
        "This API key does not reach its owner's connections: name the owner."
    ]
    assert not Connection.objects.exists()
    named = client.post(URL, token_body(owner="alice"), format="json")
    assert named.status_code == 201 and named.json()["owner"] == "alice"


def test_an_all_connections_key_may_create_for_anyone(make_key, api, stranger, operator):
    made = make_key([Permission.WRITE], scope=KeyScope.ALL, key_owner=operator)
    response = api(made.plaintext).post(URL, token_body(owner="mallory"), format="json")
    assert response.status_code == 201
    assert Connection.objects.get().owner == stranger


def test_a_chosen_connections_key_cannot_create(make_key, api, token_connection):
    made = make_key(scope=KeyScope.CONNECTIONS, connections=[token_connection])
    response = api(made.plaintext).post(URL, token_body(), format="json")
    assert response.status_code == 403


def test_writing_needs_the_write_permission(make_key, api, token_connection):
    client = api(make_key([Permission.READ, Permission.TOKEN, Permission.PROXY]).plaintext)
    detail = f"{URL}{token_connection.pk}/"
    assert client.post(URL, token_body(), format="json").status_code == 403
    assert client.patch(detail, {"name": "X"}, format="json").status_code == 403
    assert client.put(detail, token_body(), format="json").status_code == 403
    assert client.delete(detail).status_code == 403
    assert client.post(f"{detail}test/").status_code == 403
    assert Connection.objects.get().name == "Support inbox"


def test_patch_changes_only_what_was_sent(full_api, token_connection):
    response = full_api.patch(
        f"{URL}{token_connection.pk}/",
        {"company_name": "Acme Europe", "api_token": NEW_TOKEN},
        format="json",
    )
    assert response.status_code == 200, response.json()
    token_connection.refresh_from_db()
    assert token_connection.company_name == "Acme Europe"
    assert token_connection.name == "Support inbox"
    assert str(token_connection.api_token) == NEW_TOKEN


def test_put_replaces(full_api, token_connection):
    response = full_api.put(
        f"{URL}{token_connection.pk}/", token_body(name="Renamed"), format="json"
    )
    assert response.status_code == 200, response.json()
    assert Connection.objects.get().name == "Renamed"
    response = full_api.put(f"{URL}{token_connection.pk}/", {"name": "Only"}, format="json")
    assert response.status_code == 400


def test_changing_another_users_connection_is_404(full_api, stranger):
    theirs = Connection.objects.create(name="Theirs", company_name="X", owner=stranger)
    assert full_api.patch(f"{URL}{theirs.pk}/", {"name": "Mine"}, format="json").status_code == 404
    assert full_api.delete(f"{URL}{theirs.pk}/").status_code == 404
    assert Connection.objects.filter(pk=theirs.pk, name="Theirs").exists()


def test_delete_keeps_a_history_entry(full_api, token_connection):
    response = full_api.delete(f"{URL}{token_connection.pk}/")
    assert response.status_code == 204
    assert not Connection.objects.exists()
    assert Event.objects.filter(action="deleted", source=Source.API).exists()


def test_test_records_the_result(full_api, token_connection, front_settings):
    response = full_api.post(f"{URL}{token_connection.pk}/test/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == Status.ONLINE
    assert body["front_company_id"] == "cmp_standin"
    assert API_TOKEN not in response.content.decode()
    assert front_settings.me_requests == 1


def test_malformed_json_is_400_in_the_error_shape(full_api):
    response = full_api.generic("POST", URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()) == {"error", "fields"}


def test_a_service_may_rename_a_token_connection_without_its_token(full_api, token_connection):
    # The API edits as an operator does: a blank token keeps the stored one.
    response = full_api.patch(f"{URL}{token_connection.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200, response.json()
    token_connection.refresh_from_db()
    assert token_connection.name == "Renamed"
    assert str(token_connection.api_token) == API_TOKEN


def test_switching_to_oauth_voids_the_status(full_api, token_connection, oauth_client, scopes):
    Connection.objects.filter(pk=token_connection.pk).update(status=Status.ONLINE)
    response = full_api.patch(
        f"{URL}{token_connection.pk}/",
        {"auth_type": AuthType.OAUTH2, "oauth_client": oauth_client.pk,
         "scopes": ["conversations:read"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == Status.NOT_AUTHORIZED
    assert body["secrets"]["api_token"] == "not_set"


def test_an_unknown_client_is_a_field_error(full_api, front_scopes):
    response = full_api.post(
        URL,
        {"name": "X", "company_name": "Y", "auth_type": AuthType.OAUTH2, "oauth_client": 999,
         "scopes": ["conversations:read"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["fields"]["oauth_client"] == ["No OAuth 2.0 client has this id."]
