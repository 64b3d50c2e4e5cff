"""The proxy and the API forward exactly what the schema says: bodies, methods, query, limits."""

from __future__ import annotations

import pytest
from django.test import Client

from connections.models import Connection

pytestmark = pytest.mark.django_db


def front_url(connection, path: str) -> str:
    return f"/api/v1/connections/{connection.pk}/front/{path}"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_chunked_body_to_the_proxy_is_refused_with_411_and_nothing_is_sent(
    full_key, token_connection, echo_front, method
):
    # Django's WSGI request reads CONTENT_LENGTH bytes: a chunked body would arrive empty and
    # Front would get an empty request while the caller is told it worked.
    response = getattr(Client(), method)(
        front_url(token_connection, "conversations"),
        b"",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {full_key.plaintext}",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )
    assert response.status_code == 411
    assert "Content-Length" in response.json()["error"]
    assert echo_front.seen == []


def test_a_chunked_body_to_create_is_refused_with_411(full_key):
    response = Client().post(
        "/api/v1/connections/",
        b"",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {full_key.plaintext}",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )
    assert response.status_code == 411
    assert Connection.objects.count() == 0


def test_a_body_with_its_length_still_goes_through(full_api, token_connection, echo_front):
    response = full_api.post(
        front_url(token_connection, "conversations"), {"a": 1}, format="json",
        HTTP_TRANSFER_ENCODING="identity",
    )  # fmt: skip
    assert response.status_code == 200
    assert echo_front.seen[0].body == b'{"a":1}'


@pytest.mark.parametrize("method", ["head", "options"])
def test_undocumented_methods_are_refused_and_never_sent(
    full_api, token_connection, echo_front, method
):
    response = getattr(full_api, method)(front_url(token_connection, "me"))
    assert response.status_code == 405
    assert set(response["Allow"].replace(" ", "").split(",")) == {
        "GET", "POST", "PUT", "PATCH", "DELETE"
    }  # fmt: skip
    assert echo_front.seen == []


@pytest.fixture
def schema(client):
    return client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def test_the_schema_says_the_proxy_forwards_query_parameters(schema):
    proxy = schema["paths"]["/api/v1/connections/{id}/front/{front_path}"]
    for method, operation in proxy.items():
        (query,) = [p for p in operation["parameters"] if p["in"] == "query"]
        assert query["style"] == "form" and query["explode"] is True, method
        assert query["schema"]["type"] == "object"
        assert query["schema"]["additionalProperties"] == {"type": "string"}


def test_every_operation_has_its_own_description(schema):
    descriptions = [
        operation.get("description", "")
        for operations in schema["paths"].values()
        for operation in operations.values()
    ]
    assert all(descriptions)
    assert len(set(descriptions)) == len(descriptions)


def test_the_schema_states_page_size_and_company_name_limits(schema):
    listing = schema["paths"]["/api/v1/connections/"]["get"]
    (page_size,) = [p for p in listing["parameters"] if p["name"] == "page_size"]
    assert page_size["schema"]["maximum"] == 200
    assert page_size["schema"]["minimum"] == 1
    (page,) = [p for p in listing["parameters"] if p["name"] == "page"]
    assert page["schema"]["minimum"] == 1
    write = schema["components"]["schemas"]["ConnectionWriteRequest"]["properties"]
    assert write["company_name"]["minLength"] == 1
    assert write["name"]["minLength"] == 1
