"""Every error under /api/ is the API's JSON shape: database outages, deep JSON, 404, 405, 415."""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client

from connections.models import Connection

pytestmark = pytest.mark.django_db


def assert_api_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error", "fields"}
    assert body["error"] and isinstance(body["error"], str)
    return body


@pytest.fixture
def database_down(monkeypatch):
    """Every new query fails as it does while PostgreSQL restarts."""

    def refuse(self, *args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", refuse)
    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", refuse)


@pytest.fixture
def quiet_client():
    """A client that gets the server's error page instead of the exception."""
    return Client(raise_request_exception=False)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/connections/"),
        ("get", "/api/v1/connections/1/"),
        ("post", "/api/v1/connections/"),
        ("post", "/api/v1/connections/1/access-token/"),
        ("get", "/api/v1/connections/1/front/me"),
    ],
)
def test_an_unreachable_database_answers_json_503_with_retry_after(
    full_key, database_down, quiet_client, method, path
):
    response = getattr(quiet_client, method)(
        path, HTTP_AUTHORIZATION=f"Bearer {full_key.plaintext}"
    )
    body = assert_api_error(response, 503)
    assert "database" in body["error"].lower()
    assert int(response["Retry-After"]) >= 1


def test_a_database_failure_outside_the_views_is_json_too(database_down, quiet_client, settings):
    # The session is read by the sign-in middleware before any API view runs.
    quiet_client.cookies["sessionid"] = "x" * 32
    response = quiet_client.get("/api/v1/connections/")
    assert_api_error(response, 503)


def test_pages_outside_the_api_keep_the_html_server_error(database_down, quiet_client):
    quiet_client.cookies["sessionid"] = "x" * 32
    response = quiet_client.get("/connections/")
    assert response.status_code == 500
    assert not response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_deeply_nested_json_is_a_400_not_a_server_error(full_api, owner, depth):
    body = "[" * depth + "]" * depth
    created = full_api.post("/api/v1/connections/", body, content_type="application/json")
    assert_api_error(created, 400)
    connection = Connection.objects.create(name="Kept", company_name="Acme", owner=owner)
    nested = '{"name": ' + "[" * depth + "]" * depth + "}"
    changed = full_api.patch(
        f"/api/v1/connections/{connection.pk}/", nested, content_type="application/json"
    )
    assert_api_error(changed, 400)
    connection.refresh_from_db()
    assert connection.name == "Kept"
    assert Connection.objects.count() == 1


@pytest.mark.parametrize(
    "path",
    ["/api/", "/api/v1/", "/api/v1/nothing", "/api/v2/connections/", "/api/v1/connections/1/x/"],
)
def test_every_unknown_api_path_is_a_json_404(full_api, path):
    assert_api_error(full_api.get(path), 404)
    # Without a key too: the sign-in redirect is for pages, not for the API.
    assert_api_error(Client().get(path), 404)


def test_a_wrong_method_is_a_json_405(full_api, owner):
    connection = Connection.objects.create(name="One", company_name="Acme", owner=owner)
    response = full_api.get(f"/api/v1/connections/{connection.pk}/test/")
    assert_api_error(response, 405)
    assert "POST" in response["Allow"]


def test_an_unsupported_body_type_is_a_json_415(full_api):
    response = full_api.post("/api/v1/connections/", "name=x", content_type="text/plain")
    assert_api_error(response, 415)


def test_the_schema_declares_the_shared_errors(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    bodies = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"405", "503"} <= set(responses), (method, path)
            if "{id}" in path:
                assert "404" in responses, (method, path)
            if "requestBody" in operation:
                bodies += 1
                assert {"411", "415"} <= set(responses), (method, path)
            for code in ("405", "503"):
                schema_ref = responses[code]["content"]["application/json"]["schema"]
                assert schema_ref == {"$ref": "#/components/schemas/Error"}
    # create, replace, change, and the proxy's POST, PUT, PATCH and DELETE
    assert bodies >= 6
