from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from alerts.models import AlertPreference, Notification, Webhook, WebhookDelivery
from connections.models import Source, Status
from connections.status import connection_status_set

pytestmark = pytest.mark.django_db

SIGNING_SECRET = "whsec-SECRET-4444-abcdefghijklmnop"


@pytest.fixture
def webhook():
    hook = Webhook(name="<b>Pager</b>", url="https://hooks.example.com/in")
    hook.secret = SIGNING_SECRET
    hook.save()
    return hook


@pytest.fixture
def transition(token_connection):
    return connection_status_set(
        connection=token_connection, status=Status.OFFLINE, reason="Refused.", source=Source.ADMIN
    )


def test_adding_a_webhook_stores_the_secret_encrypted_and_never_shows_it(operator_client):
    response = operator_client.post(
        "/admin/alerts/webhook/add/",
        {
            "name": "Pager",
            "url": "https://hooks.example.com/in",
            "is_active": "on",
            "events": ["connection.status_changed"],
            "statuses": ["offline", "reauthorize"],
            "signing_secret": SIGNING_SECRET,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    webhook = Webhook.objects.get()
    assert str(webhook.secret) == SIGNING_SECRET
    assert webhook.statuses == ["offline", "reauthorize"]

    page = operator_client.get(f"/admin/alerts/webhook/{webhook.pk}/change/").content.decode()
    assert SIGNING_SECRET not in page
    assert "Set, last changed" in page
    listing = operator_client.get("/admin/alerts/webhook/").content.decode()
    assert SIGNING_SECRET not in listing


def test_a_plain_http_webhook_url_is_refused(operator_client):
    response = operator_client.post(
        "/admin/alerts/webhook/add/",
        {
            "name": "Pager",
            "url": "http://hooks.example.com/in",
            "events": ["connection.status_changed"],
            "statuses": ["offline"],
            "signing_secret": SIGNING_SECRET,
        },
    )
    assert response.status_code == 200
    assert "url" in response.context["adminform"].form.errors
    assert not Webhook.objects.exists()


def test_the_delivery_log_is_read_only_and_escapes_names(operator_client, webhook, transition):
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, transition=transition, attempts=2, http_status=500, error="HTTP 500"
    )

    listing = operator_client.get("/admin/alerts/webhookdelivery/").content.decode()
    assert "&lt;b&gt;Pager&lt;/b&gt;" in listing and "<b>Pager</b>" not in listing
    assert "HTTP 500" in listing
    assert operator_client.get("/admin/alerts/webhookdelivery/add/").status_code == 403
    detail = operator_client.get(f"/admin/alerts/webhookdelivery/{delivery.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    deleted = operator_client.post(
        f"/admin/alerts/webhookdelivery/{delivery.pk}/delete/", {"post": "yes"}
    )
    assert deleted.status_code == 403
    assert SIGNING_SECRET not in detail.content.decode()


def test_the_notification_log_is_read_only(operator_client, owner, transition):
    Notification.objects.create(transition=transition, user=owner, kind="outage")

    assert operator_client.get("/admin/alerts/notification/").status_code == 200
    assert operator_client.get("/admin/alerts/notification/add/").status_code == 403


def test_an_operator_subscribes_to_every_alert_on_the_user_page(operator_client, operator):
    page = operator_client.get(f"/admin/auth/user/{operator.pk}/change/").content.decode()
    assert "Alerts for every connection" in page

    data = {
        "username": operator.username,
        "email": operator.email,
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
        "alert_preference-TOTAL_FORMS": "1",
        "alert_preference-INITIAL_FORMS": "0",
        "alert_preference-MIN_NUM_FORMS": "0",
        "alert_preference-MAX_NUM_FORMS": "1",
        "alert_preference-0-email_enabled": "on",
        "alert_preference-0-all_connections": "on",
        "alert_preference-0-user": str(operator.pk),
        # The language and time zone inline (common.admin.PreferencesInline), left out.
        "preferences-TOTAL_FORMS": "0",
        "preferences-INITIAL_FORMS": "0",
    }
    response = operator_client.post(f"/admin/auth/user/{operator.pk}/change/", data)

    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    preference = AlertPreference.objects.get(user=operator)
    assert preference.all_connections and preference.email_enabled


def test_the_preference_admin_lists_and_searches(operator_client, operator):
    AlertPreference.objects.create(user=operator, all_connections=True)
    other = get_user_model().objects.create_user("bob", "bob@example.com")
    AlertPreference.objects.create(user=other)

    page = operator_client.get("/admin/alerts/alertpreference/?q=op").content.decode()
    assert "Alerts for op" in page or ">op<" in page
    assert "bob" not in page


SECRET_URL = "https://hooks.example.com:8443/in/T0KEN-PATH-5555?key=QUERY-SECRET-6666"


def test_the_url_is_stored_encrypted_and_shown_as_its_host_only(operator_client):
    """Issue 15 item 5: a webhook URL's path and query are a secret; pages show host + state."""
    from django.db import connection

    data = {
        "name": "Pager",
        "url": SECRET_URL,
        "is_active": "on",
        "events": ["connection.status_changed"],
        "statuses": ["offline"],
        "signing_secret": SIGNING_SECRET,
    }
    assert operator_client.post("/admin/alerts/webhook/add/", data).status_code == 302
    webhook = Webhook.objects.get()
    assert str(webhook.url) == SECRET_URL and webhook.host == "hooks.example.com:8443"
    with connection.cursor() as cursor:
        cursor.execute("SELECT url FROM alerts_webhook")
        (stored,) = cursor.fetchone()
    assert b"T0KEN-PATH" not in bytes(stored) and b"QUERY-SECRET" not in bytes(stored)

    change = f"/admin/alerts/webhook/{webhook.pk}/change/"
    pages = [
        operator_client.get("/admin/alerts/webhook/").content.decode(),
        operator_client.get(change).content.decode(),
        operator_client.get(f"/admin/alerts/webhook/{webhook.pk}/history/").content.decode(),
    ]
    assert "hooks.example.com:8443 (path and query stored encrypted)" in pages[1]
    assert "hooks.example.com:8443" in pages[0]
    for page in pages:
        assert "T0KEN-PATH" not in page and "QUERY-SECRET" not in page

    # Blank on edit keeps the stored URL; an invalid re-post never echoes a new one.
    edit = {**data, "url": "", "signing_secret": ""}
    assert operator_client.post(change, edit).status_code == 302
    assert str(Webhook.objects.get().url) == SECRET_URL
    refused = operator_client.post(change, {**edit, "url": SECRET_URL, "name": ""})
    assert refused.status_code == 200 and "T0KEN-PATH" not in refused.content.decode()


def test_the_admin_add_user_form_asks_for_the_email_alerts_need(operator_client):
    # Issue 19 item 5: alerts and password resets go to this address.
    page = operator_client.get("/admin/auth/user/add/").content.decode()
    assert 'name="email"' in page and "Alerts about their connections" in page
    base = {
        "username": "bob",
        "usable_password": "true",
        "password1": "a-long-passphrase-for-bob-5",
        "password2": "a-long-passphrase-for-bob-5",
        "alert_preference-TOTAL_FORMS": "0",
        "alert_preference-INITIAL_FORMS": "0",
        "preferences-TOTAL_FORMS": "0",
        "preferences-INITIAL_FORMS": "0",
    }
    refused = operator_client.post("/admin/auth/user/add/", base)
    assert refused.status_code == 200
    assert not get_user_model().objects.filter(username="bob").exists()
    made = operator_client.post("/admin/auth/user/add/", {**base, "email": "bob@example.com"})
    assert made.status_code == 302
    assert get_user_model().objects.get(username="bob").email == "bob@example.com"
