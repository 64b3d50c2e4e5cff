"""The connection change page: its history, its buttons and what it links to."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from connections.models import Action, Event, Source, Status
from tests.connections.outcomes import as_check


def change_url(connection):
    return reverse("admin:connections_connection_change", args=[connection.pk])


def disconnect_url(connection):
    return reverse("admin:connections_connection_disconnect", args=[connection.pk])


@pytest.fixture
def authorized(oauth_connection):
    oauth_connection.access_token, oauth_connection.refresh_token = "at-SECRET", "rt-SECRET"
    oauth_connection.access_token_expires_at = timezone.now() + timedelta(hours=1)
    oauth_connection.status = Status.ONLINE
    oauth_connection.save()
    return oauth_connection


def test_there_is_no_view_on_site_link(operator_client, token_connection):
    """Issue 9 item 14: the member page is a 404 for every operator but the owner."""
    content = operator_client.get(change_url(token_connection)).content.decode()
    assert "View on site" not in content
    assert token_connection.get_absolute_url() not in content


def test_the_page_shows_the_latest_history_and_links_to_the_rest(operator_client, token_connection):
    """Issue 9 item 15: 20 entries on the page, the full history one click away."""
    start = timezone.now() - timedelta(days=1)
    Event.objects.bulk_create(
        Event(
            connection=token_connection,
            connection_name=token_connection.name,
            action=Action.TESTED,
            source=Source.WORKER,
            message=f"check number {n:03d}",
            created_at=start + timedelta(minutes=n),
        )
        for n in range(300)
    )
    content = operator_client.get(change_url(token_connection)).content.decode()
    assert "check number 299" in content and "check number 280" in content
    assert "check number 279" not in content
    assert "Showing the latest 20 of 300 entries" in content
    history = reverse("admin:connections_event_changelist") + f"?connection={token_connection.pk}"
    assert f'href="{history}"' in content


def test_the_history_link_opens_this_connections_history(operator_client, token_connection):
    Event.objects.create(
        connection=token_connection,
        connection_name=token_connection.name,
        action=Action.TESTED,
        source=Source.ADMIN,
    )
    response = operator_client.get(
        reverse("admin:connections_event_changelist"), {"connection": token_connection.pk}
    )
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_disconnect_forgets_the_tokens_and_records_who(operator_client, operator, authorized):
    response = operator_client.post(disconnect_url(authorized))
    assert response.status_code == 303 and response["Location"] == change_url(authorized)
    authorized.refresh_from_db()
    assert authorized.status == Status.NOT_AUTHORIZED
    assert not authorized.access_token and not authorized.refresh_token
    event = Event.objects.get(action=Action.DISCONNECTED)
    assert event.source == Source.ADMIN and event.actor == operator
    assert any("is disconnected" in str(m) for m in get_messages(response.wsgi_request))


def test_the_change_page_of_an_oauth_connection_offers_disconnect(operator_client, authorized):
    # Issue 19 item 5: Disconnect asks first, on its own page; the page's form posts.
    content = operator_client.get(change_url(authorized)).content.decode()
    confirm = reverse("admin:connections_connection_disconnect_confirm", args=[authorized.pk])
    assert f'href="{confirm}">Disconnect</a>' in content
    assert "fc-disconnect-form" not in content  # no one-click disconnect any more


def test_disconnect_asks_for_confirmation_first(operator_client, authorized):
    confirm = reverse("admin:connections_connection_disconnect_confirm", args=[authorized.pk])
    response = operator_client.get(confirm)
    content = response.content.decode()
    assert response.status_code == 200
    assert "a Front company admin must sign in to Front and accept the authorization again" in (
        content
    )
    assert f'<form method="post" action="{disconnect_url(authorized)}">' in content
    authorized.refresh_from_db()
    assert authorized.access_token == "at-SECRET"  # asking changes nothing
    assert operator_client.post(confirm).status_code == 405


def test_the_confirmation_needs_the_change_permission(client, stranger, authorized):
    stranger.is_staff = True
    stranger.save()
    stranger.user_permissions.add(Permission.objects.get(codename="view_connection"))
    client.force_login(stranger)
    confirm = reverse("admin:connections_connection_disconnect_confirm", args=[authorized.pk])
    assert client.get(confirm).status_code == 403


def test_a_token_connection_has_no_disconnect(operator_client, token_connection):
    content = operator_client.get(change_url(token_connection)).content.decode()
    assert "disconnect/confirm/" not in content
    response = operator_client.post(disconnect_url(token_connection), follow=True)
    assert "Only OAuth 2.0 connections can be disconnected" in response.content.decode()
    assert not Event.objects.filter(action=Action.DISCONNECTED).exists()


def test_disconnect_is_post_only(operator_client, authorized):
    assert operator_client.get(disconnect_url(authorized)).status_code == 405
    authorized.refresh_from_db()
    assert authorized.access_token == "at-SECRET"


def test_disconnect_needs_csrf(operator, authorized):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(disconnect_url(authorized)).status_code == 403
    authorized.refresh_from_db()
    assert authorized.access_token == "at-SECRET"


def test_disconnect_needs_the_change_permission(client, stranger, authorized):
    stranger.is_staff = True
    stranger.save()
    stranger.user_permissions.add(Permission.objects.get(codename="view_connection"))
    client.force_login(stranger)
    assert client.post(disconnect_url(authorized)).status_code == 403
    authorized.refresh_from_db()
    assert authorized.access_token == "at-SECRET"


def test_an_unknown_connection_cannot_be_disconnected(operator_client):
    assert (
        operator_client.post("/admin/connections/connection/999999/disconnect/").status_code == 404
    )


@pytest.mark.django_db(transaction=True)
def test_the_test_after_a_save_runs_after_the_admins_transaction(client, owner):
    """Calling Front inside the admin's transaction would hold the database (issue 10, item 3)."""
    from unittest import mock

    from django.contrib.auth import get_user_model
    from django.db import connection as db_connection

    from connections.models import Connection

    operator = get_user_model().objects.create_superuser("op2", "op2@example.com", "pw-12345678")
    client.force_login(operator)
    inside: list[bool] = []

    def fake_test(*, connection, actor, source):
        inside.append(db_connection.in_atomic_block)
        return connection

    with mock.patch(
        "connections.flows.connection_check", autospec=True, side_effect=as_check(fake_test)
    ):
        response = client.post(
            reverse("admin:connections_connection_add"),
            {
                "name": "Fresh",
                "company_name": "Acme",
                "auth_type": "token",
                "api_token": "tok-123",
                "owner": owner.pk,
            },
        )
    assert response.status_code == 302
    assert Connection.objects.filter(name="Fresh").exists()
    assert inside == [False]
