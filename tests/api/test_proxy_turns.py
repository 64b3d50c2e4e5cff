"""A proxied call's own work waits for one of the process's turns; pages never do.

``common.serving.proxy_turn`` bounds how many proxied calls of a process use the database and
the CPU at once, so that under any load a page or /healthz still finds a pool connection.
"""

from __future__ import annotations

import threading

import pytest

from common import serving

pytestmark = pytest.mark.django_db


def front_url(connection, path: str = "me") -> str:
    return f"/api/v1/connections/{connection.pk}/front/{path}"


@pytest.fixture
def one_turn(settings):
    settings.FRONTCONNECT_PROXY_WORKING_PER_PROCESS = 1
    settings.DATABASE_POOL_TIMEOUT = 0.2
    serving._turns.cache_clear()
    yield
    serving._turns.cache_clear()


def hold_the_turn(release: threading.Event, holding: threading.Event) -> threading.Thread:
    """Another thread takes the only turn and keeps it until ``release`` is set."""

    def hold() -> None:
        with serving.proxy_turn():
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(5)
    return thread


def test_a_call_without_a_turn_in_time_is_answered_503_and_reaches_nothing(
    one_turn, full_api, token_connection, echo_front
):
    release, holding = threading.Event(), threading.Event()
    holder = hold_the_turn(release, holding)
    try:
        refused = full_api.get(front_url(token_connection))
    finally:
        release.set()
        holder.join()
    assert refused.status_code == 503
    assert refused["Retry-After"] == "1"
    assert refused.json() == {
        "error": "FrontConnect is busy with other proxied calls: try again in a second.",
        "fields": {},
    }
    assert echo_front.seen == []
    # The turn is back: the next call goes through.
    answer = full_api.get(front_url(token_connection))
    assert answer.status_code == 200
    b"".join(answer.streaming_content)


def test_a_call_waiting_for_front_holds_no_turn(one_turn):
    with serving.proxy_turn():
        serving.hand_back_database_connection()
        # Another call gets the only turn at once while this one would wait for Front.
        got = []
        other = threading.Thread(target=lambda: got.append(serving._turns().acquire(timeout=0)))
        other.start()
        other.join()
        assert got == [True]
        serving._turns().release()
    # Leaving the block after the hand-back does not give the turn back twice.
    assert serving._turns().acquire(timeout=0)
    assert not serving._turns().acquire(timeout=0)
    serving._turns().release()


def test_a_turn_ends_with_its_call_when_front_is_never_called(one_turn):
    with pytest.raises(RuntimeError), serving.proxy_turn():
        raise RuntimeError("the key was refused")
    assert serving._turns().acquire(timeout=0)
    serving._turns().release()


def test_pages_never_wait_for_a_turn(one_turn, client):
    release, holding = threading.Event(), threading.Event()
    holder = hold_the_turn(release, holding)
    try:
        assert client.get("/accounts/login/").status_code == 200
    finally:
        release.set()
        holder.join()


def test_a_call_waiting_for_room_in_the_budget_holds_no_turn_meanwhile(
    one_turn, full_api, token_connection, echo_front, monkeypatch
):
    """A call that waits up to FRONTCONNECT_PROXY_BUDGET_WAIT for room in the budget is not
    working: it used to sleep holding its turn and database connection, so a few such calls
    could keep every other proxied call of the process from its turn (503) for seconds."""
    import time

    from connections import ratelimit

    answers = iter([ratelimit.Deferred("company:x", 0.01), ratelimit.Permit("company:x")])
    monkeypatch.setattr(ratelimit, "_proxy_try", lambda *args: next(answers))
    free_while_waiting: list[bool] = []
    sleep = time.sleep

    def watching_sleep(seconds: float) -> None:
        other = threading.Thread(
            target=lambda: free_while_waiting.append(serving._turns().acquire(timeout=0))
        )
        other.start()
        other.join()
        if free_while_waiting[-1]:
            serving._turns().release()
        sleep(0)

    monkeypatch.setattr(time, "sleep", watching_sleep)
    answer = full_api.get(front_url(token_connection))
    assert answer.status_code == 200
    b"".join(answer.streaming_content)
    assert free_while_waiting == [True]
    assert len(echo_front.seen) == 1


def test_a_call_that_gets_no_turn_back_after_waiting_is_answered_503(
    one_turn, full_api, token_connection, echo_front, monkeypatch
):
    import time

    from connections import ratelimit

    answers = iter([ratelimit.Deferred("company:x", 0.01), ratelimit.Permit("company:x")])
    monkeypatch.setattr(ratelimit, "_proxy_try", lambda *args: next(answers))
    sleep = time.sleep

    def busy_meanwhile(seconds: float) -> None:
        # Another call takes the only turn while this one waits, and keeps it.
        assert serving._turns().acquire(timeout=0)
        sleep(0)

    monkeypatch.setattr(time, "sleep", busy_meanwhile)
    try:
        refused = full_api.get(front_url(token_connection))
    finally:
        serving._turns().release()
    assert refused.status_code == 503
    assert refused["Retry-After"] == "1"
    assert echo_front.seen == []


def test_a_call_gives_back_its_database_connection_before_it_waits_for_a_turn(
    one_turn, monkeypatch
):
    """A call that took a connection before its turn (the middleware's encryption-key check)
    must not hold it while it waits: the turns' holders need the pool's connections."""
    returned: list[bool] = []
    monkeypatch.setattr(serving, "_return_connection", lambda: returned.append(True))
    with serving.proxy_turn():
        pass
    assert returned == []  # a free turn: nothing to give back
    release, holding = threading.Event(), threading.Event()
    holder = hold_the_turn(release, holding)
    try:
        with pytest.raises(serving.NoTurn), serving.proxy_turn():
            pass
    finally:
        release.set()
        holder.join()
    assert returned == [True]
