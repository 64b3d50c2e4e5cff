"""Staff who may only view everything still never see a secret, on any admin page."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission

from alerts.models import Webhook
from api.keys import apikey_create
from api.models import KeyScope
from tests.conftest import API_TOKEN, CLIENT_SECRET

pytestmark = pytest.mark.django_db

SIGNING_SECRET = "webhook-signing-SECRET-8888-abcdefghijkl"
ACCESS_TOKEN = "access-token-SECRET-3333"
REFRESH_TOKEN = "refresh-token-SECRET-4444"


@pytest.fixture
def viewer(client, stranger):
    stranger.is_staff = True
    stranger.save()
    stranger.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    client.force_login(stranger)
    return client


def test_a_viewer_of_everything_sees_no_secret_on_any_list_or_page(
    viewer, owner, operator, token_connection, oauth_connection, oauth_client
):
    oauth_connection.access_token, oauth_connection.refresh_token = ACCESS_TOKEN, REFRESH_TOKEN
    oauth_connection.save()
    hook = Webhook(name="Pager", url="https://hooks.example.com/in")
    hook.secret = SIGNING_SECRET
    hook.save()
    key = apikey_create(
        name="Integration", owner=operator, permissions=["read", "token"], scope=KeyScope.ALL
    )
    secrets = [API_TOKEN, CLIENT_SECRET, SIGNING_SECRET, ACCESS_TOKEN, REFRESH_TOKEN]
    secrets += [key.plaintext, key.key.key_hash]

    index = viewer.get("/admin/")
    assert index.status_code == 200
    lists = sorted(set(re.findall(r'href="(/admin/[a-z_]+/[a-z_]+/)"', index.content.decode())))
    assert "/admin/alerts/webhook/" in lists and "/admin/api/apikey/" in lists
    pages = list(lists)
    for url in lists:
        listing = viewer.get(url)
        assert listing.status_code == 200, url
        pages += re.findall(rf'href="({re.escape(url)}\d+/change/)', listing.content.decode())
    assert len(pages) > len(lists)  # the change pages of the rows above were found too
    for url in pages:
        response = viewer.get(url)
        assert response.status_code == 200, url
        for secret in secrets:
            assert secret.encode() not in response.content, url


def test_history_and_alert_logs_show_only_connections_the_staff_user_may_view(
    client, stranger, owner, operator, token_connection
):
    # Staff who may read the logs but not connections (connections.access decides who sees
    # which connection) see no entry about another member's connection, nor its name.
    from django.utils import timezone

    from alerts.models import LapseWarning, Notification, WebhookDelivery
    from connections.models import Status, Transition
    from connections.services import event_record

    event_record(connection=token_connection, action="tested", source="command")
    transition = Transition.objects.create(
        connection=token_connection,
        connection_name=token_connection.name,
        old_status=Status.ONLINE,
        new_status=Status.OFFLINE,
        reason="Support inbox went offline.",
        source="worker",
    )
    Notification.objects.create(transition=transition, user=owner, kind="outage")
    LapseWarning.objects.create(connection=token_connection, user=owner, lapses_at=timezone.now())
    hook = Webhook(name="Pager", url="https://hooks.example.com/in")
    hook.secret = SIGNING_SECRET
    hook.save()
    WebhookDelivery.objects.create(webhook=hook, transition=transition)
    logs = [
        "/admin/connections/event/",
        f"/admin/connections/event/?connection={token_connection.pk}",
        "/admin/alerts/notification/",
        "/admin/alerts/lapsewarning/",
        "/admin/alerts/webhookdelivery/",
    ]
    stranger.is_staff = True
    stranger.save()
    stranger.user_permissions.add(
        *Permission.objects.filter(
            codename__in=[
                "view_event",
                "view_notification",
                "view_lapsewarning",
                "view_webhookdelivery",
            ]
        )
    )
    client.force_login(stranger)
    for url in logs:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Support inbox" not in response.content.decode(), url
    client.force_login(operator)
    for url in logs:
        assert "Support inbox" in client.get(url).content.decode(), url
