"""Lifecycle webhooks: created, deleted, authorized (how), link made/used/expired, refresh
failed; Standard Webhooks signatures, subscriptions per webhook, and redelivery by operators."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.test import Client
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook

from alerts import lapse
from alerts.models import LapseWarning, Webhook, WebhookDelivery, WebhookEvent
from alerts.tasks import lifecycle_dispatch
from connections import authorization, lifecycle, links
from connections.models import AuthorizationLink, Connection, Source
from connections.services import connection_delete
from connections.tokens import token_digest
from connections.upkeep import REFRESH_TOKEN_LIFETIME
from tests.alerts.test_webhooks import SIGNING_SECRET, verify

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BASE = "https://fc.example.com"


@pytest.fixture(autouse=True)
def setup(settings):
    settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK = True
    settings.FRONT_OAUTH_AUTHORIZE_URL = "https://app.frontapp.com/oauth/authorize"
    settings.FRONT_OAUTH_TOKEN_URL = "https://app.frontapp.com/oauth/token"
    settings.FRONT_API_URL = "https://api2.frontapp.com"
    settings.FRONTCONNECT_BASE_URL = BASE


def subscribe(receiver, events, secret=STANDARD_SECRET) -> Webhook:
    hook = Webhook(name="Lifecycle", url=receiver.url, events=list(events))
    hook.secret = secret
    hook.save()
    return hook


def received(receiver) -> list[tuple[dict[str, str], dict]]:
    return [(headers, json.loads(body)) for headers, body in receiver.calls]


def front_accepts(receiver, company: str = "Dunder Mifflin") -> None:
    responses.add_passthru(receiver.url)
    responses.post(
        "https://app.frontapp.com/oauth/token",
        json={"access_token": "a-SECRET", "refresh_token": "r-SECRET", "expires_in": 3600},
    )
    responses.get(
        "https://api2.frontapp.com/me",
        json={"_links": {"self": "x"}, "id": "cmp_1", "name": company},
    )


def test_created_and_deleted_are_sent_to_subscribers_only(
    receiver, owner, oauth_client, scopes, django_capture_on_commit_callbacks
):
    subscribe(receiver, [lifecycle.CREATED, lifecycle.DELETED])
    from connections.forms import ConnectionForm

    form = ConnectionForm(
        {
            "name": "New one",
            "company_name": "Acme",
            "auth_type": "oauth2",
            "oauth_client": oauth_client.pk,
            "scopes": [scope.pk for scope in scopes],
        },
        owner=owner,
    )
    assert form.is_valid(), form.errors
    with django_capture_on_commit_callbacks(execute=True):
        connection = form.save(actor=owner, source=Source.SELF_SERVICE)
    with django_capture_on_commit_callbacks(execute=True):
        connection_delete(connection=connection, actor=owner, source=Source.SELF_SERVICE)

    calls = received(receiver)
    assert [body["type"] for _, body in calls] == ["connection.created", "connection.deleted"]
    for (headers, _), (_, raw) in zip(calls, receiver.calls, strict=True):
        # The published verifier accepts the call, with the whsec_ secret as it was entered.
        assert (
            StandardWebhook(STANDARD_SECRET).verify(raw, headers)["type"].startswith("connection.")
        )
        assert verify(headers, raw, secret=STANDARD_SECRET)
    assert calls[1][1]["data"]["connection"]["name"] == "New one"
    assert len({headers["webhook-id"] for headers, _ in calls}) == 2
    assert WebhookEvent.objects.get(type=lifecycle.DELETED).connection is None


def test_nothing_is_recorded_when_no_webhook_subscribes(receiver, oauth_connection):
    subscribe(receiver, [lifecycle.STATUS_CHANGED])
    links.authorization_link_create(
        connection=oauth_connection, created_by=oauth_connection.owner, source=Source.ADMIN
    )
    assert receiver.calls == [] and not WebhookEvent.objects.exists()


@responses.activate
def test_a_link_flow_sends_link_created_authorized_how_link_and_link_used(
    receiver, oauth_connection, django_capture_on_commit_callbacks
):
    subscribe(
        receiver,
        [lifecycle.LINK_CREATED, lifecycle.AUTHORIZED, lifecycle.LINK_USED],
        secret=SIGNING_SECRET,
    )
    responses.add_passthru(receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        made = links.authorization_link_create(
            connection=oauth_connection,
            created_by=oauth_connection.owner,
            source=Source.SELF_SERVICE,
        )
    recipient = Client()
    path = made.url.removeprefix(BASE)
    front = recipient.post(path, {"start": recipient.get(path).context["start_token"]})
    state = parse_qs(urlsplit(front["Location"]).query)["state"][0]
    front_accepts(receiver)
    with django_capture_on_commit_callbacks(execute=True):
        recipient.get("/oauth/callback/", {"code": "c-SECRET", "state": state})

    calls = received(receiver)
    types = [body["type"] for _, body in calls]
    assert types == [
        "connection.authorization_link.created",
        "connection.authorized",
        "connection.authorization_link.used",
    ]
    created, authorized, used = (body["data"] for _, body in calls)
    assert created["authorization_link"]["id"] == made.link.pk
    assert created["authorization_link"]["requested_by"] == "alice"
    assert authorized["how"] == "link"
    assert authorized["front_company"] == {"id": "cmp_1", "name": "Dunder Mifflin"}
    assert used["result"] == "authorized"
    # The raw key of a non-whsec_ secret is its UTF-8 bytes, as README says.
    for headers, raw in receiver.calls:
        assert StandardWebhook(SIGNING_SECRET.encode()).verify(raw, headers)
        assert made.url not in raw.decode()
        assert "SECRET" not in raw.decode()


@responses.activate
def test_authorized_says_form_for_save_and_authorize(
    receiver, client, oauth_connection, django_capture_on_commit_callbacks
):
    subscribe(receiver, [lifecycle.AUTHORIZED])
    client.force_login(oauth_connection.owner)
    url = authorization.connection_authorize_start(
        connection=oauth_connection,
        user=oauth_connection.owner,
        session=client.session,
        return_url="/connections/",
        source=Source.SELF_SERVICE,
    )
    state = parse_qs(urlsplit(url).query)["state"][0]
    front_accepts(receiver)
    with django_capture_on_commit_callbacks(execute=True):
        client.get("/oauth/callback/", {"code": "c-SECRET", "state": state})

    ((_, body),) = received(receiver)
    assert body["data"]["how"] == "form" and body["data"]["authorization_link_id"] is None


def test_expired_links_and_failed_refreshes_are_sent(
    receiver, oauth_connection, django_capture_on_commit_callbacks
):
    subscribe(receiver, [lifecycle.LINK_EXPIRED, lifecycle.REFRESH_FAILED])
    made = links.authorization_link_create(
        connection=oauth_connection, created_by=oauth_connection.owner, source=Source.ADMIN
    )
    AuthorizationLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        links.links_expired_announce()
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.lifecycle_emit(lifecycle.REFRESH_FAILED, oauth_connection, reason="HTTP 400")

    calls = received(receiver)
    assert [body["type"] for _, body in calls] == [
        "connection.authorization_link.expired",
        "connection.refresh_failed",
    ]
    assert calls[0][1]["data"]["authorization_link"]["id"] == made.link.pk


def test_an_operator_redelivers_a_delivery_with_the_same_id_and_body(
    receiver, operator_client, oauth_connection, django_capture_on_commit_callbacks
):
    subscribe(receiver, [lifecycle.LINK_CREATED])
    with django_capture_on_commit_callbacks(execute=True):
        links.authorization_link_create(
            connection=oauth_connection, created_by=oauth_connection.owner, source=Source.ADMIN
        )
    delivery = WebhookDelivery.objects.get()
    assert delivery.delivered_at is not None

    response = operator_client.post(
        "/admin/alerts/webhookdelivery/",
        {"action": "redeliver", "_selected_action": [delivery.pk]},
        follow=True,
    )

    assert "Queued 1 delivery again, same webhook-id." in response.content.decode()
    (first_headers, first), (again_headers, again) = receiver.calls
    assert again == first and again_headers["webhook-id"] == first_headers["webhook-id"]
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.delivered_at is not None


def test_redelivery_needs_the_webhook_change_permission(operator_client, receiver):
    from django.contrib.auth.models import Permission, User

    event = WebhookEvent.objects.create(msg_id="msg_1", type=lifecycle.CREATED)
    WebhookDelivery.objects.create(webhook=subscribe(receiver, [lifecycle.CREATED]), event=event)

    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client = Client()
    client.force_login(viewer)
    page = client.get("/admin/alerts/webhookdelivery/")
    assert page.status_code == 200 and "Redeliver selected" not in page.content.decode()
    operators = operator_client.get("/admin/alerts/webhookdelivery/").content.decode()
    assert "Redeliver selected deliveries" in operators


def test_the_lapse_email_points_an_owner_to_the_reauthorization_link(oauth_connection):
    now = timezone.now()
    connection = oauth_connection
    connection.refresh_token = "r-SECRET"
    connection.refresh_token_digest = token_digest("r-SECRET")
    connection.authorized_at = now + timedelta(days=10) - REFRESH_TOKEN_LIFETIME
    connection.save()
    warning = LapseWarning(
        connection=connection, user=connection.owner, lapses_at=now + timedelta(days=10)
    )

    body = lapse.lapse_alert(warning).body

    assert "Send a reauthorization link" in body
    assert f"{BASE}/connections/{connection.pk}/#authorization-links" in body
    assert "r-SECRET" not in body
    Connection.objects.filter(pk=connection.pk).update(auth_type="token")
    warning.connection.refresh_from_db()
    assert "Send a reauthorization link" not in lapse.lapse_alert(warning).body


def test_a_paused_webhook_records_lifecycle_events_as_skipped(receiver, oauth_connection):
    hook = subscribe(receiver, [lifecycle.LINK_CREATED])
    Webhook.objects.filter(pk=hook.pk).update(paused_at=timezone.now())

    lifecycle_dispatch(
        [lifecycle.LifecycleEvent(lifecycle.LINK_CREATED, oauth_connection.pk, {"x": 1})]
    )

    delivery = WebhookDelivery.objects.get()
    assert delivery.skipped_at is not None and delivery.attempts == 0
    assert receiver.calls == []


def test_a_lifecycle_call_whose_queueing_was_lost_is_queued_by_the_sweep(
    receiver, oauth_connection
):
    from alerts import services, tasks

    hook = subscribe(receiver, [lifecycle.CREATED])
    event = WebhookEvent.objects.create(
        msg_id="msg_lost", type=lifecycle.CREATED, connection=oauth_connection, data={"a": 1}
    )
    delivery = WebhookDelivery.objects.create(webhook=hook, event=event)
    later = delivery.created_at + services.REDISPATCH_GRACE + timedelta(seconds=1)

    assert tasks.transitions_requeue(now=later) == 1

    ((headers, body),) = received(receiver)
    assert headers["webhook-id"] == "msg_lost" and body["data"] == {"a": 1}
