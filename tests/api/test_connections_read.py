from __future__ import annotations

import pytest

from api.models import KeyScope, Permission
from connections.models import AuthType, Connection, Status
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db


def test_it_lists_the_connections_the_key_reaches(full_api, token_connection, stranger):
    Connection.objects.create(name="Other", company_name="X", owner=stranger)
    response = full_api.get("/api/v1/connections/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [row["name"] for row in body["results"]] == ["Support inbox"]


def test_it_shows_secrets_only_as_their_state(full_api, token_connection):
    response = full_api.get(f"/api/v1/connections/{token_connection.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["secrets"] == {
        "api_token": "set",
        "access_token": "not_set",
        "refresh_token": "not_set",
    }
    assert body["owner"] == "alice"
    assert API_TOKEN not in response.content.decode()
    assert "SECRET" not in response.content.decode()


def test_it_filters_by_status_auth_type_and_owner(full_api, token_connection, oauth_connection):
    Connection.objects.filter(pk=token_connection.pk).update(status=Status.ONLINE)
    by_status = full_api.get("/api/v1/connections/", {"status": "online"}).json()
    assert [row["id"] for row in by_status["results"]] == [token_connection.pk]
    by_type = full_api.get("/api/v1/connections/", {"auth_type": AuthType.OAUTH2}).json()
    assert [row["id"] for row in by_type["results"]] == [oauth_connection.pk]
    by_owner = full_api.get("/api/v1/connections/", {"owner": "nobody"}).json()
    assert by_owner["count"] == 0


def test_it_refuses_an_unknown_filter_value(full_api):
    response = full_api.get("/api/v1/connections/", {"status": "sleeping"})
    assert response.status_code == 400
    assert "status" in response.json()["fields"]


def test_it_paginates(full_api, owner):
    for number in range(3):
        Connection.objects.create(name=f"C{number}", company_name="X", owner=owner)
    page = full_api.get("/api/v1/connections/", {"page_size": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]


def test_a_key_scoped_to_one_user_gets_404_for_another_users_connection(full_api, stranger):
    theirs = Connection.objects.create(name="Theirs", company_name="X", owner=stranger)
    response = full_api.get(f"/api/v1/connections/{theirs.pk}/")
    assert response.status_code == 404
    assert response.json() == {
        "error": "No connection with this id is within this API key's reach.",
        "fields": {},
    }


def test_a_key_for_chosen_connections_reaches_only_those(
    make_key, api, token_connection, oauth_connection
):
    made = make_key(scope=KeyScope.CONNECTIONS, connections=[oauth_connection])
    client = api(made.plaintext)
    assert client.get(f"/api/v1/connections/{oauth_connection.pk}/").status_code == 200
    assert client.get(f"/api/v1/connections/{token_connection.pk}/").status_code == 404
    assert client.get("/api/v1/connections/").json()["count"] == 1


def test_an_all_connections_key_reaches_everyone(
    make_key, api, token_connection, stranger, operator
):
    Connection.objects.create(name="Theirs", company_name="X", owner=stranger)
    made = make_key([Permission.READ], scope=KeyScope.ALL, key_owner=operator)
    assert api(made.plaintext).get("/api/v1/connections/").json()["count"] == 2


def test_reading_needs_the_read_permission(make_key, api, token_connection):
    made = make_key([Permission.TOKEN])
    response = api(made.plaintext).get(f"/api/v1/connections/{token_connection.pk}/")
    assert response.status_code == 403
    assert "read" in response.json()["error"]


@pytest.mark.parametrize("bad_id", ["abc", "0", "99999999999999999999999", "-1"])
def test_an_id_that_cannot_exist_is_404_in_json(full_api, bad_id):
    response = full_api.get(f"/api/v1/connections/{bad_id}/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
