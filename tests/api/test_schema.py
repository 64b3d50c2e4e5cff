from __future__ import annotations

import re

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.models import KeyScope
from connections.models import AuthType, Connection, Status
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.django_db


def test_the_schema_is_valid_openapi_3_with_a_bearer_scheme(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A FrontConnect API key: Authorization: Bearer fc_live_…",
    }
    paths = schema["paths"]
    assert set(paths) == {
        "/api/v1/connections/",
        "/api/v1/connections/{id}/",
        "/api/v1/connections/{id}/test/",
        "/api/v1/connections/{id}/access-token/",
        "/api/v1/connections/{id}/authorization-link/",
        "/api/v1/connections/{id}/front/{front_path}",
    }
    link = paths["/api/v1/connections/{id}/authorization-link/"]["post"]
    assert {"201", "400", "401", "403", "404", "429"} <= set(link["responses"])
    body = schema["components"]["schemas"]["AuthorizationLinkOptionsRequest"]["properties"]
    assert set(body) == {"expires_in", "return_url"}
    token = paths["/api/v1/connections/{id}/access-token/"]["post"]
    assert {"200", "401", "403", "404", "429"} <= set(token["responses"])
    assert token["security"] == [{"ApiKey": []}]
    assert set(paths["/api/v1/connections/{id}/front/{front_path}"]) >= {
        "get", "post", "put", "patch", "delete"
    }  # fmt: skip


def test_the_docs_page_loads_its_assets_from_this_installation_only(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page)
    assert references
    for reference in references:
        assert reference.startswith("/static/") or reference.startswith("/api/schema/"), reference
    # No address of another host (a random CSRF token may well spell "cdn").
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]*cdn", page.lower()) and "https://" not in page


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """The real WSGI handler closes "obsolete" connections per request, and the test's open
    transaction looks obsolete: keep it, as Django's test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(
    wsgi_keeps_the_test_connection,
    db,
    make_key,
    front_settings,
    echo_front,
    settings,
    owner,
    operator,
    oauth_client,
    scopes,
):
    # Front's API is the recording stand-in (every method); its token endpoint is the OAuth one.
    settings.FRONT_API_URL = echo_front.url
    # An API token left Not checked yet by a generated change is checked before it is handed
    # out: GET /me must name a company, as Front's does.
    echo_front.company = {"id": "cmp_echo", "name": "Echo company"}
    connection = Connection(name="Token one", company_name="Acme", owner=owner)
    connection.api_token = API_TOKEN
    connection.save()
    # Front accepted its token: the access-token endpoint gives it without asking Front first.
    Connection.objects.filter(pk=connection.pk).update(status=Status.ONLINE)
    Connection.objects.create(
        name="OAuth one",
        company_name="Acme",
        auth_type=AuthType.OAUTH2,
        oauth_client=oauth_client,
        owner=owner,
    )
    made = make_key(scope=KeyScope.ALL, key_owner=operator)
    loaded = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    loaded.config.headers = {"Authorization": f"Bearer {made.plaintext}"}
    return loaded


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]


def test_the_api_keeps_its_schema_under_generated_requests(api_schema):
    # Driven through the Python API (not @schema.parametrize) with a bounded number of examples
    # per operation, so the run stays well under a minute.
    headers = dict(api_schema.config.headers)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    # Deleting last, so that the other operations still meet the connections that exist.
    operations.sort(key=lambda operation: operation.label == "DELETE /api/v1/connections/{id}/")
    assert len(operations) == 14
    statuses: dict[str, set[int]] = {}
    known_ids = list(Connection.objects.values_list("pk", flat=True))

    for operation in operations:

        @given(case=operation.as_strategy(), known=st.sampled_from([None, *known_ids]))
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case, known: int | None) -> None:
            # Half the time, an id that exists: random ids alone would only ever meet 404.
            if known is not None and case.path_parameters and "id" in case.path_parameters:
                case.path_parameters["id"] = known
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses.setdefault(case.operation.label, set()).add(response.status_code)

        run()

    # The key worked: the run reached the API's answers, not only its 401s.
    assert 200 in statuses["GET /api/v1/connections/"]
    assert statuses["POST /api/v1/connections/"] & {201, 400}
    assert statuses["GET /api/v1/connections/{id}/front/{front_path}"] - {401, 403}


def test_the_schema_generates_without_a_warning():
    # The deploy check (CI, README) reports schema warnings too, so one would fail a deploy.
    from io import StringIO

    from django.core.management import call_command

    call_command(
        "spectacular", "--validate", "--fail-on-warn", stdout=StringIO(), stderr=StringIO()
    )
