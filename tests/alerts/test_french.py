"""Issue 19 item 4: the dashboard, the alerts admin and the alert emails read in French.

Emails are rendered in the language in force (the caller picks the recipient's): under
``translation.override("fr")`` the subject and every sentence of the body are French.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest
from django.utils import timezone, translation

from alerts.lapse import lapse_alert
from alerts.models import LapseWarning, NoticeKind, Notification, Webhook, WebhookDelivery
from alerts.services import notice_alert
from alerts.webhooks import transition_event, webhook_payload
from common.wording import NOTHING, said
from connections.models import Source, Status, Transition
from connections.status import connection_status_set

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english_after():
    """A French request leaves French active in this thread (LocaleMiddleware never switches
    back): the tests after these must start in the default language again."""
    yield
    translation.deactivate()


FR = {"accept-language": "fr"}
NBSP = "\u00a0"

# Every sentence the transition email's template can say in English, cut to a distinctive part.
TRANSITION_ENGLISH = [
    "has stopped working",
    "is working again",
    "its status changed",
    "What happened",
    "Nothing more to do",
    "Ask the owner",
    "Ask a Front company admin",
    "Authorize it again",
    "Check its credentials",
    "FrontConnect sends this email",
    "Credentials are never included",
]
LAPSE_ENGLISH = [
    "Front's authorization of",
    "refresh tokens last",
    "To keep it working",
    "Ask the owner",
    "Only a Front company admin",
    "FrontConnect asks Front",
    "FrontConnect sends this email",
    "Credentials are never included",
]


@pytest.fixture
def base_url(settings):
    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"


def status_change(connection, status: Status, reason=NOTHING) -> Transition:
    transition = connection_status_set(
        connection=connection, status=status, reason=reason, source=Source.WORKER
    )
    assert transition is not None
    return transition


@pytest.mark.usefixtures("base_url")
def test_an_outage_email_is_all_french_under_french(token_connection, owner):
    status_change(token_connection, Status.ONLINE)
    transition = status_change(token_connection, Status.OFFLINE)
    notice = Notification(transition=transition, user=owner, kind=NoticeKind.OUTAGE)

    with translation.override("fr"):
        alert = notice_alert(notice, transition)

    assert alert.subject == f"FrontConnect{NBSP}: la connexion Support inbox est hors ligne"
    assert "La connexion Support inbox ne fonctionne plus" in alert.body
    assert "Vérifiez ses identifiants et testez-la de nouveau sur sa page" in alert.body
    assert "Ces e-mails ne contiennent jamais d'identifiants." in alert.body
    assert f"https://fc.example.com/connections/{token_connection.pk}/" in alert.body
    assert [english for english in TRANSITION_ENGLISH if english in alert.body] == []
    # The same email without a language is English, as before.
    english = notice_alert(notice, transition)
    assert english.subject == "FrontConnect: Support inbox is Offline"
    assert "Support inbox has stopped working" in english.body


@pytest.mark.usefixtures("base_url")
def test_reauthorization_and_recovery_emails_are_french(token_connection, owner, operator):
    status_change(token_connection, Status.ONLINE)
    lost = status_change(token_connection, Status.REAUTHORIZE)
    back = status_change(token_connection, Status.ONLINE)

    with translation.override("fr"):
        for_owner = notice_alert(Notification(transition=lost, user=owner, kind="outage"), lost)
        for_operator = notice_alert(
            Notification(transition=lost, user=operator, kind="outage"), lost
        )
        recovered = notice_alert(Notification(transition=back, user=owner, kind="recovery"), back)

    assert for_owner.subject.endswith("la connexion Support inbox doit être réautorisée")
    assert "(le bouton Autoriser" in for_owner.body
    assert "(Enregistrer et autoriser)" in for_operator.body
    assert "/admin/connections/connection/" in for_operator.body
    assert recovered.subject.endswith("la connexion Support inbox est de nouveau en ligne")
    assert "fonctionne de nouveau" in recovered.body
    for alert in (for_owner, for_operator, recovered):
        assert [english for english in TRANSITION_ENGLISH if english in alert.body] == []


@pytest.mark.usefixtures("base_url")
def test_a_lapse_warning_is_all_french_under_french(oauth_connection, owner):
    lapses_at = timezone.now() + timedelta(days=10)
    warning = LapseWarning.objects.create(
        connection=oauth_connection, lapses_at=lapses_at, user=owner
    )

    with translation.override("fr"):
        alert = lapse_alert(warning)

    assert alert.subject == (
        f"FrontConnect{NBSP}: autorisez de nouveau la connexion {oauth_connection.name} "
        f"avant le {lapses_at:%Y-%m-%d}"
    )
    assert f"expire vers le {lapses_at:%Y-%m-%d %H:%M} UTC" in alert.body
    assert "14 jours avant son expiration" in alert.body
    assert [english for english in LAPSE_ENGLISH if english in alert.body] == []


def test_the_dashboard_reads_in_french_with_accept_language_fr(operator_client):
    page = operator_client.get("/admin/", headers=FR).content.decode()

    assert "Tâches d'arrière-plan" in page
    assert "Il n'y a encore aucune connexion." in page
    assert "Changements de statut récents" in page
    assert "30 derniers jours" in page
    for english in ("Background work", "Needs attention", "Recent status changes", "in all"):
        assert english not in page
    # Without a language the page stays English.
    assert "Recent status changes" in operator_client.get("/admin/").content.decode()


def test_the_dashboard_reasons_are_french(operator_client, token_connection):
    status_change(token_connection, Status.ONLINE)

    page = operator_client.get("/admin/", headers=FR).content.decode()

    assert "Jamais vérifiée" in page and "Never checked" not in page


def test_stored_delivery_sentences_read_in_french_in_the_admin(operator_client, token_connection):
    hook = Webhook(name="Pager", url="https://hooks.example.com/in")
    hook.secret = "whsec-SECRET-4444-abcdefghijklmnop"
    hook.save()
    transition = status_change(token_connection, Status.OFFLINE)
    WebhookDelivery.objects.create(
        webhook=hook, transition=transition, error=said("delivery.connect_failed")
    )

    listing = operator_client.get("/admin/alerts/webhookdelivery/", headers=FR).content.decode()

    assert "connexion impossible" in listing and "could not connect" not in listing
    assert (
        "could not connect"
        in operator_client.get("/admin/alerts/webhookdelivery/").content.decode()
    )


def test_a_webhook_payload_stays_english_under_french(token_connection):
    transition = status_change(token_connection, Status.OFFLINE)

    with translation.override("fr"):
        data = json.loads(webhook_payload(transition_event(transition)))["data"]

    assert data["new_status_label"] == "Offline"
    assert data["new_status"] == "offline"


@pytest.mark.usefixtures("base_url")
def test_each_recipient_reads_the_alert_in_their_own_language_and_time_zone(
    token_connection, owner, operator, mailoutbox
):
    """A French owner in Paris and an English operator in UTC get one change in their words.

    The worker (or the request that caused the change) sends both: the language and zone are
    the recipients', not the sender's.
    """
    from alerts.services import notices_send
    from common.preferences import preferences_save

    preferences_save(user=owner, language="fr", time_zone="Europe/Paris")
    status_change(token_connection, Status.ONLINE)
    transition = status_change(token_connection, Status.REAUTHORIZE, said("token.reauthorize"))
    Transition.objects.filter(pk=transition.pk).update(
        created_at=timezone.make_aware(timezone.datetime(2026, 7, 1, 12, 30), timezone=UTC)
    )
    transition.refresh_from_db()
    for user in (owner, operator):
        Notification.objects.create(transition=transition, user=user, kind=NoticeKind.OUTAGE)

    with translation.override("en"):
        sent = notices_send(
            Notification.objects.filter(transition=transition),
            build=lambda notice: notice_alert(notice, transition),
        )

    assert sent == 2
    by_recipient = {message.to[0]: message for message in mailoutbox}
    french, english = by_recipient[owner.email], by_recipient[operator.email]
    assert "doit être réautorisée" in french.subject
    assert "Front n\u2019accepte plus l\u2019autorisation de cette connexion" in french.body
    assert "2026-07-01 14:30 CEST" in french.body
    assert english.subject == "FrontConnect: Support inbox needs reauthorization"
    assert "Front no longer accepts this connection's authorization" in english.body
    assert "2026-07-01 12:30 UTC" in english.body
