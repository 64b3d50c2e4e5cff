"""The admin's Save and authorize button and the buttons on the change form."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from connections.models import Connection, PendingAuthorization, Source
from tests.conftest import CLIENT_SECRET


@pytest.fixture(autouse=True)
def front_urls(settings):
    settings.FRONT_OAUTH_AUTHORIZE_URL = "https://app.frontapp.com/oauth/authorize"
    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"


def change_url(connection):
    return reverse("admin:connections_connection_change", args=[connection.pk])


def form_data(connection, **extra):
    data = {
        "name": connection.name,
        "company_name": connection.company_name,
        "auth_type": connection.auth_type,
        "oauth_client": connection.oauth_client_id or "",
        "scopes": [scope.pk for scope in connection.scopes.all()],
        "owner": connection.owner_id,
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "_authorize": "Save and authorize",
    }
    data.update(extra)
    return data


def test_the_change_form_shows_both_buttons(operator_client, oauth_connection):
    content = operator_client.get(change_url(oauth_connection)).content.decode()
    assert 'name="_authorize" value="Save and authorize" data-oauth-only' in content
    assert 'form="fc-test-form"' in content and "Test connection" in content


def test_the_test_button_posts_its_own_form_not_the_change_form(operator_client, token_connection):
    """Issue 9 item 16: the typed API token and unsaved edits are never posted to the test."""
    content = operator_client.get(change_url(token_connection)).content.decode()
    change_form = re.search(r'<form [^>]*id="connection_form".*?</form>', content, re.S)
    test_form = re.search(
        r'<form id="fc-test-form" method="post" action="([^"]+)">(.*?)</form>', content, re.S
    )
    assert change_form and test_form
    assert test_form.group(1) == reverse(
        "admin:connections_connection_test", args=[token_connection.pk]
    )
    # The small form holds the CSRF token and nothing else, and it is not nested in the big one.
    assert re.findall(r"<input [^>]*name=\"([^\"]+)\"", test_form.group(2)) == [
        "csrfmiddlewaretoken"
    ]
    assert test_form.start() > change_form.end()
    assert "formaction" not in content
    button = re.search(
        r'<button type="submit" form="fc-test-form"[^>]*>Test connection</button>', content
    )
    assert button and change_form.start() < button.start() < change_form.end()


def test_the_add_form_offers_save_and_authorize_but_no_test(operator_client):
    content = operator_client.get(reverse("admin:connections_connection_add")).content.decode()
    assert "Save and authorize" in content and "Test connection</button>" not in content


@responses.activate
def test_save_and_authorize_saves_then_redirects_to_front(operator_client, oauth_connection):
    response = operator_client.post(
        change_url(oauth_connection), form_data(oauth_connection, name="Renamed")
    )
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "https://app.frontapp.com/oauth/authorize"
    )
    query = parse_qs(location.query)
    assert query["redirect_uri"] == ["https://fc.example.com/oauth/callback/"]
    assert query["scope"] == ["contacts:read conversations:read"]
    assert query["code_challenge_method"] == ["S256"]
    assert CLIENT_SECRET not in response["Location"]
    oauth_connection.refresh_from_db()
    assert oauth_connection.name == "Renamed"
    pending = PendingAuthorization.objects.get()
    assert pending.return_url == change_url(oauth_connection)
    assert pending.source == Source.ADMIN
    assert len(responses.calls) == 0


def test_save_and_authorize_on_the_add_page(operator_client, oauth_client, scopes, owner):
    data = {
        "name": "Brand new",
        "company_name": "Acme",
        "auth_type": "oauth2",
        "oauth_client": oauth_client.pk,
        "scopes": [scope.pk for scope in scopes],
        "owner": owner.pk,
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "_authorize": "Save and authorize",
    }
    response = operator_client.post(reverse("admin:connections_connection_add"), data)
    assert response["Location"].startswith("https://app.frontapp.com/oauth/authorize?")
    assert PendingAuthorization.objects.get().connection == Connection.objects.get(name="Brand new")


def test_an_invalid_form_does_not_start_a_flow(operator_client, oauth_connection):
    response = operator_client.post(
        change_url(oauth_connection), form_data(oauth_connection, scopes=[])
    )
    assert response.status_code == 200
    assert "Choose at least one scope." in response.content.decode()
    assert not PendingAuthorization.objects.exists()


def test_save_and_authorize_needs_csrf(operator, oauth_connection):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(change_url(oauth_connection), form_data(oauth_connection))
    assert response.status_code == 403
    assert not PendingAuthorization.objects.exists()


def test_save_and_authorize_needs_the_change_permission(client, stranger, oauth_connection):
    stranger.is_staff = True
    stranger.save()
    stranger.user_permissions.add(Permission.objects.get(codename="view_connection"))
    client.force_login(stranger)
    response = client.post(change_url(oauth_connection), form_data(oauth_connection))
    assert response.status_code == 403
    assert not PendingAuthorization.objects.exists()


@responses.activate
def test_save_and_authorize_on_a_token_connection_just_saves(operator_client, token_connection):
    from tests.conftest import API_TOKEN

    responses.get("https://api2.frontapp.com/me", json={"id": "cmp_1", "name": "Acme"})
    response = operator_client.post(
        change_url(token_connection), form_data(token_connection, api_token=API_TOKEN), follow=True
    )
    assert "Save and authorize is only for OAuth 2.0 connections" in response.content.decode()
    assert not PendingAuthorization.objects.exists()


def test_save_and_authorize_is_the_primary_button_of_an_oauth_connection(
    operator_client, oauth_connection, token_connection
):
    # Issue 19 item 5: Django's Save gives up the primary style ("default") to it.
    content = operator_client.get(change_url(oauth_connection)).content.decode()
    assert 'data-primary-for="oauth2" data-primary-class="default" class="default">' in content
    assert '<input type="submit" value="Save" name="_save" data-primary-for="token"' in content

    content = operator_client.get(change_url(token_connection)).content.decode()
    assert '<input type="submit" value="Save" class="default" name="_save"' in content
    assert 'data-primary-for="oauth2" data-primary-class="default">' in content


def test_test_connection_says_it_tests_the_stored_token(operator_client, token_connection):
    content = operator_client.get(change_url(token_connection)).content.decode()
    assert 'aria-describedby="fc-test-scope">Test connection' in content
    assert "tests the stored API token, not one typed in this form" in content
