from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from alerts import services, tasks
from alerts.models import AlertPreference, NoticeState, Notification
from connections.models import Connection, Source, Status, Transition
from connections.status import connection_status_set
from connections.tokens import REAUTHORIZE_INTERRUPTED, REAUTHORIZE_NEEDED
from tests.alerts.conftest import body_of
from tests.conftest import API_TOKEN

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("celery_eager", "base_url"),
]


@pytest.fixture
def base_url(settings):
    settings.FRONTCONNECT_BASE_URL = "https://fc.example.com"


REFUSED = "Front refused the API token (HTTP 401)."


@pytest.fixture
def change(django_capture_on_commit_callbacks):
    """Change a connection's status through the door and run what its commit triggers."""

    def change(connection: Connection, status: Status, reason: str = REFUSED) -> Transition:
        with django_capture_on_commit_callbacks(execute=True):
            transition = connection_status_set(
                connection=connection, status=status, reason=reason, source=Source.WORKER
            )
        assert transition is not None
        return transition

    return change


@pytest.fixture
def online(token_connection, change):
    change(token_connection, Status.ONLINE, "Front accepted the API token.")
    return token_connection


@pytest.fixture
def subscribed_operator(operator):
    AlertPreference.objects.create(user=operator, all_connections=True)
    return operator


def test_the_owner_gets_one_email_through_a_real_smtp_server(smtp_server, online, change):
    change(online, Status.OFFLINE)

    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert smtp_server.envelopes[0][1] == ["alice@example.com"]
    assert message["To"] == "alice@example.com"
    assert message["From"] == "FrontConnect <noreply@localhost>"
    assert message["Subject"] == "FrontConnect: Support inbox is Offline"
    body = body_of(message)
    assert "Support inbox has stopped working" in body
    assert "from Online to Offline" in body
    assert REFUSED in body
    assert f"https://fc.example.com/connections/{online.pk}/" in body
    assert API_TOKEN not in message.as_string()
    notice = Notification.objects.get()
    assert notice.state == NoticeState.SENT and notice.attempts == 1


def test_needs_reauthorization_says_so_in_words(smtp_server, online, change):
    change(online, Status.REAUTHORIZE, "Front refused the refresh token (invalid_grant).")

    (message,) = smtp_server.messages
    # Issue 19 item 5: a status is put in a sentence as a predicate, never "is Needs …".
    assert message["Subject"] == "FrontConnect: Support inbox needs reauthorization"
    assert "Authorize it again on its page (the Authorize button" in body_of(message)


def test_the_reauthorization_email_says_each_thing_once_and_names_the_real_button(
    smtp_server, online, change
):
    # Issue 19 item 5: the reason already says Front no longer accepts the authorization.
    change(online, Status.REAUTHORIZE, REAUTHORIZE_NEEDED)

    (message,) = smtp_server.messages
    body = " ".join(body_of(message).split())
    assert body.count("Front no longer accepts this connection's authorization") == 1
    # The owner's page has an "Authorize" button; "Save and authorize" is the admin's.
    assert "the Authorize button" in body and "Save and authorize" not in body


def test_a_grant_lost_to_an_interrupted_refresh_says_so(smtp_server, online, change):
    # Issue 16 item 3: not a plain "authorize again", but what happened and who can fix it.
    change(online, Status.REAUTHORIZE, REAUTHORIZE_INTERRUPTED)

    (message,) = smtp_server.messages
    body = " ".join(body_of(message).split())
    assert "Interrupted refresh" in body
    assert "interrupted before the new tokens Front issued could be saved" in body
    assert "A Front company admin must authorize it again" in body
    assert "Ask a Front company admin to authorize it again on its page" in body
    assert "Front no longer accepts this connection's authorization. Authorize" not in body


def test_a_retry_or_a_second_worker_sends_nothing_more(smtp_server, online, change):
    transition = change(online, Status.OFFLINE)

    tasks.transition_notify.apply(args=[transition.pk])
    assert services.transition_notify(transition_id=transition.pk) == 0
    assert len(smtp_server.messages) == 1
    assert Notification.objects.count() == 1


def test_a_notice_claimed_by_another_worker_is_left_to_it(
    smtp_server, online, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        transition = connection_status_set(
            connection=online, status=Status.OFFLINE, reason=REFUSED, source=Source.WORKER
        )
    assert transition is not None
    notice = Notification.objects.create(transition=transition, user=online.owner, kind="outage")
    assert services._claim(notice)  # the other worker, mid-send

    assert services.transition_notify(transition_id=transition.pk) == 0
    assert smtp_server.messages == []


def test_operators_subscribed_to_every_alert_get_the_admin_link(
    smtp_server, online, change, subscribed_operator
):
    change(online, Status.OFFLINE)

    (message,) = smtp_server.to("op@example.com")
    body = body_of(message)
    assert f"https://fc.example.com/admin/connections/connection/{online.pk}/change/" in body
    assert "Support inbox" in body
    assert len(smtp_server.to("alice@example.com")) == 1


def test_unsubscribed_operators_and_members_asking_for_all_get_nothing(
    smtp_server, online, change, operator, stranger
):
    AlertPreference.objects.create(user=operator, all_connections=False)
    # all_connections is for staff only: a member cannot read other members' alerts.
    AlertPreference.objects.create(user=stranger, all_connections=True)
    other_operator = get_user_model().objects.create_user(
        "op2", "op2@example.com", "x", is_staff=True
    )
    AlertPreference.objects.create(user=other_operator, all_connections=True, email_enabled=False)

    change(online, Status.OFFLINE)

    assert [rcpt for _, rcpt in smtp_server.envelopes] == [["alice@example.com"]]


def test_an_owner_who_turned_emails_off_gets_none(smtp_server, online, change, owner):
    AlertPreference.objects.create(user=owner, email_enabled=False)

    change(online, Status.OFFLINE)

    assert smtp_server.messages == []


def test_recovery_email_follows_a_sent_outage_email(smtp_server, online, change):
    change(online, Status.OFFLINE)
    change(online, Status.ONLINE, "Front accepted the API token.")

    first, second = smtp_server.messages
    assert second["Subject"] == "FrontConnect: Support inbox is back Online"
    assert "working again" in body_of(second)
    assert "from Offline to Online" in body_of(second)


def test_no_recovery_email_when_the_outage_email_was_never_sent(
    smtp_server, online, change, django_capture_on_commit_callbacks
):
    # Offline and back before any worker ran: the outage email is stale, so nothing goes out.
    with django_capture_on_commit_callbacks(execute=False):
        outage = connection_status_set(
            connection=online, status=Status.OFFLINE, reason=REFUSED, source=Source.WORKER
        )
    assert outage is not None
    change(online, Status.ONLINE, "Front accepted the API token.")
    tasks.transition_notify.apply(args=[outage.pk])

    assert smtp_server.messages == []
    assert set(Notification.objects.values_list("state", flat=True)) == {NoticeState.SKIPPED}


def test_no_email_for_a_first_authorization_or_a_disconnect(smtp_server, online, change):
    change(online, Status.NOT_AUTHORIZED, "Disconnected by its owner.")

    assert smtp_server.messages == []
    assert not Notification.objects.exists()


def test_a_failing_smtp_server_leads_to_a_retry_not_a_lost_alert(smtp_server, online, change):
    smtp_server.refuse = 2

    change(online, Status.OFFLINE)

    assert smtp_server.refused == 2
    assert len(smtp_server.messages) == 1
    notice = Notification.objects.get()
    assert notice.state == NoticeState.SENT
    assert notice.attempts == 3


def test_an_smtp_server_that_stays_down_leaves_the_alert_pending(smtp_server, online, change):
    smtp_server.refuse = 1000

    change(online, Status.OFFLINE)

    notice = Notification.objects.get()
    assert notice.state == NoticeState.PENDING
    assert notice.attempts == tasks.transition_notify.max_retries + 1
    assert "SMTPDataError" in notice.error
    assert smtp_server.messages == []


def test_the_task_declares_its_retries():
    task = tasks.transition_notify
    assert task.max_retries and task.retry_backoff
    assert OSError in task.autoretry_for


def test_a_transition_whose_task_was_lost_is_queued_again_by_the_sweep(
    smtp_server, online, django_capture_on_commit_callbacks
):
    # The broker was down: the after-commit dispatch never ran.
    with django_capture_on_commit_callbacks(execute=False):
        transition = connection_status_set(
            connection=online, status=Status.OFFLINE, reason=REFUSED, source=Source.WORKER
        )
    assert transition is not None
    later = transition.created_at + timedelta(minutes=10)

    assert tasks.transitions_requeue(now=transition.created_at) == 0  # too new: left alone
    assert tasks.transitions_requeue(now=later) == 1
    assert tasks.transitions_requeue(now=later) == 0  # notices exist now
    assert len(smtp_server.messages) == 1


def test_a_fix_with_a_new_token_through_not_checked_yet_is_a_recovery(smtp_server, online, change):
    # A new API token leaves the connection Not checked yet; Front accepting it ends the outage.
    change(online, Status.OFFLINE)
    change(online, Status.UNCHECKED, "Not checked yet: the API token is new or changed.")
    change(online, Status.ONLINE, "Front accepted the API token.")

    first, second = smtp_server.messages
    assert first["Subject"] == "FrontConnect: Support inbox is Offline"
    assert second["Subject"] == "FrontConnect: Support inbox is back Online"
    assert "working again" in body_of(second)


def test_a_new_token_checked_online_without_an_outage_sends_nothing(smtp_server, online, change):
    change(online, Status.UNCHECKED, "Not checked yet: the API token is new or changed.")
    change(online, Status.ONLINE, "Front accepted the API token.")
    assert smtp_server.messages == []
