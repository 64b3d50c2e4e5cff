"""Issue 9 items 15 and 17: pruning old history, and the entry every deletion leaves."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import ProtectedError
from django.utils import timezone

from connections import services
from connections.history import history_prune
from connections.models import Action, Connection, Event, Source, Status, Transition


def event_aged(connection: Connection, days: float, action: str = Action.TESTED) -> Event:
    return Event.objects.create(
        connection=connection,
        connection_name=connection.name,
        action=action,
        source=Source.WORKER,
        created_at=timezone.now() - timedelta(days=days),
    )


def transition_aged(connection: Connection, days: float) -> Transition:
    return Transition.objects.create(
        connection=connection,
        connection_name=connection.name,
        old_status=Status.ONLINE,
        new_status=Status.OFFLINE,
        source=Source.WORKER,
        created_at=timezone.now() - timedelta(days=days),
    )


@pytest.fixture
def aged_history(token_connection):
    for days in (1, 30, 89, 91, 200, 400):
        event_aged(token_connection, days)
    for days in (2, 100, 300):
        transition_aged(token_connection, days)
    return token_connection


def test_prune_deletes_only_what_is_older_than_the_cutoff(aged_history):
    report = history_prune(older_than=timedelta(days=90))
    assert (report.events, report.transitions, report.dry_run) == (3, 2, False)
    assert Event.objects.count() == 3 and Transition.objects.count() == 1
    oldest = timezone.now() - Event.objects.order_by("created_at").first().created_at
    assert oldest < timedelta(days=90)


def test_a_dry_run_counts_and_deletes_nothing(aged_history):
    report = history_prune(older_than=timedelta(days=90), dry_run=True)
    assert (report.events, report.transitions, report.dry_run) == (3, 2, True)
    assert Event.objects.count() == 6 and Transition.objects.count() == 3


def test_prune_works_in_batches(token_connection, monkeypatch):
    monkeypatch.setattr("connections.history.PRUNE_BATCH", 2)
    for _ in range(5):
        event_aged(token_connection, 100)
    assert history_prune(older_than=timedelta(days=90)).events == 5
    assert not Event.objects.exists()


def test_prune_refuses_a_duration_that_is_not_positive(db):
    with pytest.raises(ValueError):
        history_prune(older_than=timedelta(0))


def test_the_command_prints_the_counts(aged_history):
    out = StringIO()
    call_command("pruneevents", "--older-than", "90", stdout=out)
    assert "Deleted 3 history entries and 2 status transitions older than 90 days" in out.getvalue()
    assert Event.objects.count() == 3


def test_the_command_dry_run_deletes_nothing(aged_history):
    out = StringIO()
    call_command("pruneevents", "--older-than", "90", "--dry-run", stdout=out)
    assert "Would delete 3 history entries and 2 status transitions" in out.getvalue()
    assert Event.objects.count() == 6


def test_the_command_defaults_to_the_retention_setting(aged_history, settings):
    settings.FRONTCONNECT_HISTORY_RETENTION_DAYS = 150
    out = StringIO()
    call_command("pruneevents", stdout=out)
    assert "Deleted 2 history entries and 1 status transition older than 150 days" in (
        out.getvalue()
    )


@pytest.mark.parametrize("days", ["0", "-5"])
def test_the_command_refuses_less_than_a_day(aged_history, days):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("pruneevents", "--older-than", days, stdout=StringIO())
    assert Event.objects.count() == 6


def test_the_command_refuses_more_days_than_a_date_can_go_back(aged_history):
    # 10 million days before now is before year 1: it was an OverflowError traceback.
    with pytest.raises(CommandError, match="at most 36500"):
        call_command("pruneevents", "--older-than", "10000000", stdout=StringIO())
    assert Event.objects.count() == 6


def test_deleting_the_owner_is_refused_and_deletes_nothing(
    owner, token_connection, oauth_connection
):
    # Issue 17: nobody's departure deletes anything (Connection.owner is PROTECT).
    with pytest.raises(ProtectedError):
        owner.delete()
    assert Connection.objects.count() == 2
    assert not Event.objects.filter(action=Action.DELETED).exists()


def test_deleting_owners_in_bulk_is_refused(owner, stranger, token_connection):
    Connection.objects.create(name="Other", company_name="B", owner=stranger)
    with pytest.raises(ProtectedError):
        get_user_model().objects.filter(pk__in=[owner.pk, stranger.pk]).delete()
    assert Connection.objects.count() == 2
    assert get_user_model().objects.filter(pk__in=[owner.pk, stranger.pk]).count() == 2


def test_connection_delete_records_the_deletion_once(owner, operator, token_connection):
    services.connection_delete(connection=token_connection, actor=operator, source=Source.ADMIN)
    deleted = Event.objects.get(action=Action.DELETED)
    assert deleted.actor == operator and deleted.source == Source.ADMIN


def test_deleting_a_user_in_the_admin_is_refused_with_what_to_move(
    operator_client, owner, token_connection
):
    response = operator_client.post(
        f"/admin/auth/user/{owner.pk}/delete/", {"post": "yes"}, follow=True
    )
    text = response.content.decode()
    assert "cannot be deleted: they still own 1 connection (\u201cSupport inbox\u201d)" in text
    assert "Offboard" in text
    assert get_user_model().objects.filter(pk=owner.pk).exists()
    assert Connection.objects.filter(pk=token_connection.pk).exists()
    assert not Event.objects.filter(action=Action.DELETED).exists()
