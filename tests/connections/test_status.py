"""The status door: one Transition per real change, subscribers after commit, compare-and-swap."""

from __future__ import annotations

import pytest
from django.db import transaction

from connections import status as door
from connections.models import Connection, Source, Status, Transition


@pytest.fixture
def received():
    seen: list[Transition] = []

    def handler(transition: Transition) -> None:
        seen.append(transition)

    door.transition_subscribe(handler)
    yield seen
    door._handlers.remove(handler)


def test_a_real_change_records_one_transition(token_connection, operator):
    transition = door.connection_status_set(
        connection=token_connection,
        status=Status.ONLINE,
        reason="Online: Front company Acme.",
        source=Source.ADMIN,
        actor=operator,
    )
    assert transition is not None
    stored = Transition.objects.get()
    assert (stored.old_status, stored.new_status) == (Status.UNCHECKED, Status.ONLINE)
    assert stored.reason == "Online: Front company Acme."
    assert stored.source == Source.ADMIN and stored.actor == operator
    assert stored.connection_name == token_connection.name and stored.created_at is not None
    token_connection.refresh_from_db()
    assert token_connection.status == Status.ONLINE


def test_no_transition_when_the_status_is_unchanged(token_connection):
    assert (
        door.connection_status_set(
            connection=token_connection, status=Status.UNCHECKED, reason="", source="worker"
        )
        is None
    )
    assert not Transition.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_subscribers_run_after_commit_and_not_on_rollback(token_connection, received):
    with transaction.atomic():
        door.connection_status_set(
            connection=token_connection, status=Status.ONLINE, reason="up", source="worker"
        )
        assert received == []  # not before the commit
    assert [t.new_status for t in received] == [Status.ONLINE]

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        door.connection_status_set(
            connection=token_connection, status=Status.OFFLINE, reason="down", source="worker"
        )
        raise Boom
    assert len(received) == 1
    assert Transition.objects.count() == 1
    token_connection.refresh_from_db()
    assert token_connection.status == Status.ONLINE


@pytest.mark.django_db(transaction=True)
def test_a_failing_subscriber_does_not_stop_the_others(token_connection, received):
    def broken(transition: Transition) -> None:
        raise RuntimeError("mail server down")

    door._handlers.insert(0, broken)
    try:
        door.connection_status_set(
            connection=token_connection, status=Status.ONLINE, reason="up", source="worker"
        )
    finally:
        door._handlers.remove(broken)
    assert [t.new_status for t in received] == [Status.ONLINE]


def test_compare_and_swap_records_the_status_really_replaced(token_connection, monkeypatch):
    """A change that lands between the read and the write is not lost: the swap retries."""
    real_filter = Connection.objects.filter
    raced = {"done": False}

    def racing_filter(*args, **kwargs):
        if "status" in kwargs and not raced["done"]:
            raced["done"] = True
            real_filter(pk=token_connection.pk).update(status=Status.OFFLINE)
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(Connection.objects, "filter", racing_filter)
    transition = door.connection_status_set(
        connection=token_connection, status=Status.ONLINE, reason="up", source="worker"
    )
    assert raced["done"]
    assert transition is not None
    # The other writer's change (to Offline) is what this change replaced.
    assert (transition.old_status, transition.new_status) == (Status.OFFLINE, Status.ONLINE)


def test_the_door_is_the_only_writer_of_status():
    """No module outside status.py assigns Connection.status (creation aside)."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "connections"
    mine = ["services.py", "tokens.py", "health.py", "authorization.py"]
    mine += ["front/transport.py", "front/oauth.py", "front/api.py"]
    for name in mine:
        text = (root / name).read_text()
        assert not re.search(r"\.status\s*=(?!=)", text), name
        assert not re.search(r"\.update\([^)]*\bstatus=", text), name
