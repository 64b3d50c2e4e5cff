"""POST /api/v1/connections/{id}/authorization-link/: a service gets a single-use link."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from api.keys import return_origins_parse
from api.models import ApiKey, Permission
from connections.models import Action, AuthorizationLink, Event, Source, Status

pytestmark = pytest.mark.django_db

BASE = "https://fc.example.com"
RETURN = "https://app.example.com/onboarding/done?step=3"


@pytest.fixture(autouse=True)
def front_urls(settings):
    settings.FRONT_OAUTH_AUTHORIZE_URL = "https://app.frontapp.com/oauth/authorize"
    settings.FRONT_OAUTH_TOKEN_URL = "https://app.frontapp.com/oauth/token"
    settings.FRONT_API_URL = "https://api2.frontapp.com"
    settings.FRONTCONNECT_BASE_URL = BASE


@pytest.fixture
def authorize_key(make_key):
    made = make_key([Permission.AUTHORIZE])
    ApiKey.objects.filter(pk=made.key.pk).update(return_origins=["https://app.example.com"])
    return made


def endpoint(connection) -> str:
    return f"/api/v1/connections/{connection.pk}/authorization-link/"


def test_it_answers_201_with_a_single_use_url_and_its_expiry(api, authorize_key, oauth_connection):
    response = api(authorize_key.plaintext).post(
        endpoint(oauth_connection), {"expires_in": 600, "return_url": RETURN}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"url", "expires_at"}
    assert body["url"].startswith(f"{BASE}/authorization-links/")
    assert response["Cache-Control"] == "no-store"
    link = AuthorizationLink.objects.get()
    assert link.return_url == RETURN and link.source == Source.API
    assert (link.api_key_id, link.api_key_name) == (authorize_key.key.pk, "Integration")
    assert timedelta(seconds=595) < link.expires_at - timezone.now() <= timedelta(seconds=600)
    event = Event.objects.get(action=Action.LINK)
    assert event.api_key_id == authorize_key.key.pk
    assert body["url"].rsplit("/", 2)[-2] not in event.message


def test_it_needs_the_authorize_permission(api, make_key, oauth_connection):
    response = api(make_key([Permission.WRITE]).plaintext).post(endpoint(oauth_connection))
    assert response.status_code == 403
    assert "'authorize' permission" in response.json()["error"]
    assert not AuthorizationLink.objects.exists()


def test_a_connection_beyond_the_keys_reach_is_404(api, authorize_key, oauth_client, stranger):
    from connections.models import AuthType, Connection

    theirs = Connection.objects.create(
        name="Theirs", company_name="X", auth_type=AuthType.OAUTH2, oauth_client=oauth_client,
        owner=stranger,
    )  # fmt: skip
    assert api(authorize_key.plaintext).post(endpoint(theirs)).status_code == 404


@pytest.mark.parametrize(
    "return_url",
    [
        "https://app.example.com.evil.example/x",
        "http://app.example.com/x",
        "https://app.example.com:8443/x",
        "https://evil.example/?next=https://app.example.com",
    ],
)
def test_a_return_url_outside_the_keys_origins_is_refused(
    api, authorize_key, oauth_connection, return_url
):
    response = api(authorize_key.plaintext).post(
        endpoint(oauth_connection), {"return_url": return_url}, format="json"
    )
    assert response.status_code == 400
    assert "allowed return origins" in response.json()["fields"]["return_url"][0]
    assert not AuthorizationLink.objects.exists()


@pytest.mark.parametrize("expires_in", [0, 59, 72 * 3600 + 1, "soon"])
def test_a_bad_expires_in_is_refused(api, authorize_key, oauth_connection, expires_in):
    response = api(authorize_key.plaintext).post(
        endpoint(oauth_connection), {"expires_in": expires_in}, format="json"
    )
    assert response.status_code == 400
    assert not AuthorizationLink.objects.exists()


def test_a_token_connection_gets_no_link(api, authorize_key, token_connection):
    response = api(authorize_key.plaintext).post(endpoint(token_connection))
    assert response.status_code == 400
    assert "Only OAuth 2.0 connections" in str(response.json())


def test_link_creation_is_rate_limited_per_key(
    settings, api, make_key, authorize_key, oauth_connection
):
    settings.FRONTCONNECT_AUTHORIZATION_LINKS_PER_HOUR = 2
    client = api(authorize_key.plaintext)
    assert [client.post(endpoint(oauth_connection)).status_code for _ in range(2)] == [201, 201]

    refused = client.post(endpoint(oauth_connection))

    assert refused.status_code == 429
    assert 3000 < int(refused["Retry-After"]) <= 3601
    assert "This API key made 2 authorization links" in refused.json()["error"]
    assert AuthorizationLink.objects.count() == 2
    other = make_key([Permission.AUTHORIZE])
    assert api(other.plaintext).post(endpoint(oauth_connection)).status_code == 201


def test_return_origins_are_checked_where_they_are_set():
    assert return_origins_parse("https://App.Example.com/\n\nhttp://127.0.0.1:8765") == [
        "https://app.example.com",
        "http://127.0.0.1:8765",
    ]
    for bad in ("https://app.example.com/path", "http://app.example.com", "ftp://x", "nope"):
        with pytest.raises(ValidationError):
            return_origins_parse(bad)


@responses.activate
def test_after_the_flow_the_browser_goes_to_the_return_url_with_the_result(
    api, authorize_key, oauth_connection
):
    made = api(authorize_key.plaintext).post(
        endpoint(oauth_connection), {"return_url": RETURN}, format="json"
    )
    recipient = Client()
    path = made.json()["url"].removeprefix(BASE)
    front = recipient.post(path, {"start": recipient.get(path).context["start_token"]})
    state = parse_qs(urlsplit(front["Location"]).query)["state"][0]
    responses.post(
        "https://app.frontapp.com/oauth/token",
        json={"access_token": "a-SECRET", "refresh_token": "r-SECRET", "expires_in": 3600},
    )
    responses.get(
        "https://api2.frontapp.com/me",
        json={"_links": {"self": "x"}, "id": "cmp_9", "name": "Acme Corp"},
    )

    response = recipient.get("/oauth/callback/", {"code": "c-SECRET", "state": state})

    assert response.status_code == 303
    assert response["Location"] == (
        f"https://app.example.com/onboarding/done?step=3&connection={oauth_connection.pk}"
        "&result=authorized"
    )
    assert response["Referrer-Policy"] == "no-referrer"
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == Status.ONLINE
    assert Client().post(made.json()["url"].removeprefix(BASE)).status_code == 410


def test_a_cancel_goes_back_with_result_cancelled(api, authorize_key, oauth_connection):
    made = api(authorize_key.plaintext).post(
        endpoint(oauth_connection), {"return_url": "https://app.example.com/back"}, format="json"
    )
    recipient = Client()
    path = made.json()["url"].removeprefix(BASE)
    front = recipient.post(path, {"start": recipient.get(path).context["start_token"]})
    state = parse_qs(urlsplit(front["Location"]).query)["state"][0]

    response = recipient.get("/oauth/callback/", {"error": "access_denied", "state": state})

    assert response["Location"] == (
        f"https://app.example.com/back?connection={oauth_connection.pk}&result=cancelled"
    )


def test_the_key_form_edits_the_return_origins(operator_client, make_key, operator):
    made = make_key([Permission.AUTHORIZE], key_owner=operator)
    change = f"/admin/api/apikey/{made.key.pk}/change/"
    page = operator_client.get(change)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in ("name", "owner", "scope", "expires_at")}
    data.update(
        {
            "permissions": ["authorize"],
            "users": [operator.pk],
            "return_origins": "https://a.example.com\nhttps://b.example.com:8443/",
            "usage-TOTAL_FORMS": "0",
            "usage-INITIAL_FORMS": "0",
        }
    )
    data = {key: value for key, value in data.items() if value is not None}

    response = operator_client.post(change, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    made.key.refresh_from_db()
    assert made.key.return_origins == ["https://a.example.com", "https://b.example.com:8443"]
    refused = operator_client.post(change, {**data, "return_origins": "https://a.example.com/x"})
    assert refused.status_code == 200
    assert "without a path" in str(refused.context["adminform"].form.errors)


def test_a_huge_expires_in_is_a_400_not_a_server_error(api, authorize_key, oauth_connection):
    response = api(authorize_key.plaintext).post(
        endpoint(oauth_connection), {"expires_in": 10**20}, format="json"
    )
    assert response.status_code == 400 and "expires_in" in response.json()["fields"]
