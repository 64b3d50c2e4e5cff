"""One API key never has more than FRONTCONNECT_PROXY_MAX_PER_KEY proxied calls in flight."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.utils import timezone

from api import slots
from api.models import ProxySlot

pytestmark = pytest.mark.django_db


def front_url(connection, path: str = "me") -> str:
    return f"/api/v1/connections/{connection.pk}/front/{path}"


@pytest.fixture
def two_per_key(settings):
    settings.FRONTCONNECT_PROXY_MAX_PER_KEY = 2


def test_a_key_with_its_limit_in_flight_is_answered_429(
    two_per_key, full_api, token_connection, echo_front
):
    # Answers that are not read yet are calls still in flight: their slots stay held.
    held = [full_api.get(front_url(token_connection)) for _ in range(2)]
    assert [response.status_code for response in held] == [200, 200]
    refused = full_api.get(front_url(token_connection))
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert refused.json() == {
        "error": "This API key already has 2 proxied calls in flight, its limit: wait for one "
        "to finish, then try again in 1 second.",
        "fields": {},
    }
    # The refused call never reached Front.
    assert len(echo_front.seen) == 2


def test_closing_an_answer_frees_its_slot(two_per_key, full_api, token_connection, echo_front):
    first = full_api.get(front_url(token_connection))
    second = full_api.get(front_url(token_connection))
    assert full_api.get(front_url(token_connection)).status_code == 429
    b"".join(first.streaming_content)  # read to the end: the test client closes it
    assert full_api.get(front_url(token_connection)).status_code == 200
    # Closed without being read, as a server does for a client that went away (the test's
    # transaction must outlive the end of request that closing signals, as the test client does).
    request_finished.disconnect(close_old_connections)
    try:
        second.close()
    finally:
        request_finished.connect(close_old_connections)
    assert ProxySlot.objects.exclude(holder="").count() == 1  # only the unread third answer


def test_an_answer_read_to_its_end_frees_its_slot_before_the_server_closes_it(
    full_api, token_connection, echo_front, monkeypatch
):
    """The caller has read the end, and its next call must find the slot free: the slot is
    freed when Front's answer runs out, not in close(), which the server calls after its own
    last write (gunicorn's final chunk) and its access log, by when that next call may be in."""
    from api.proxy import ProxyResponse

    held_at_close: list[int] = []
    original = ProxyResponse.close

    def close(self):
        held_at_close.append(ProxySlot.objects.exclude(holder="").count())
        original(self)

    monkeypatch.setattr(ProxyResponse, "close", close)
    answer = full_api.get(front_url(token_connection))
    assert answer.status_code == 200
    b"".join(answer.streaming_content)
    assert held_at_close == [0]


def test_a_keys_first_calls_racing_each_other_are_both_served(full_key, monkeypatch):
    """Two first calls of a key: this one found no slot rows, and before it counted them the
    other call made them. It must take one of them, not answer 429 (the serving bench saw one
    such 429 per run at concurrency 128, on keys used for the first time)."""
    original = slots._take
    calls: list[int] = []

    def racing_take(key, most, holder):
        calls.append(1)
        if len(calls) == 1:
            ProxySlot.objects.bulk_create([ProxySlot(key=key, number=n) for n in range(most)])
            return None  # what this call's statement found before the other call's insert
        return original(key, most, holder)

    monkeypatch.setattr(slots, "_take", racing_take)
    slot = slots.acquire(full_key.key)
    assert len(calls) == 2
    assert ProxySlot.objects.exclude(holder="").count() == 1
    slot.release()


def test_other_keys_have_their_own_slots(
    two_per_key, full_api, make_key, api, token_connection, echo_front
):
    held = [full_api.get(front_url(token_connection)) for _ in range(2)]
    other = api(make_key().plaintext)
    assert other.get(front_url(token_connection)).status_code == 200
    assert all(response.status_code == 200 for response in held)


def test_a_slot_whose_lease_ran_out_is_taken_again(
    two_per_key, full_api, token_connection, echo_front
):
    held = [full_api.get(front_url(token_connection)) for _ in range(2)]
    assert full_api.get(front_url(token_connection)).status_code == 429
    # The process holding them died: nothing will close these answers, the leases run out.
    ProxySlot.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert full_api.get(front_url(token_connection)).status_code == 200
    assert len(held) == 2


def test_a_failed_call_frees_its_slot(two_per_key, full_api, token_connection, settings):
    settings.FRONT_API_URL = "http://127.0.0.1:9"
    for _ in range(3):
        assert full_api.get(front_url(token_connection)).status_code == 502
    assert not ProxySlot.objects.exclude(holder="").exists()


def test_a_refusal_before_any_call_takes_no_slot(two_per_key, full_api, token_connection):
    for _ in range(3):
        assert full_api.get(front_url(token_connection, "../me")).status_code == 400
    assert not ProxySlot.objects.exists()


def test_a_streaming_answer_renews_its_lease(full_key, token_connection):
    slot = slots.acquire(full_key.key)
    row = ProxySlot.objects.get(holder=slot.holder)
    soon = row.lease_until
    slot.renew()  # less than half the lease has passed: nothing written
    assert ProxySlot.objects.get(pk=row.pk).lease_until == soon
    slot.renew_after = timezone.now() - timedelta(seconds=1)
    slot.renew()
    assert ProxySlot.objects.get(pk=row.pk).lease_until > soon
    slot.release()
    slot.release()
    assert ProxySlot.objects.get(pk=row.pk).holder == ""


def test_a_released_slot_whose_lease_was_taken_over_is_left_to_its_new_holder(full_key):
    first = slots.acquire(full_key.key)
    ProxySlot.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    # Every lease ran out: taking them all takes the first holder's slot too.
    taken = [slots.acquire(full_key.key) for _ in range(slots.limit())]
    assert first.number in {slot.number for slot in taken}
    first.release()  # late: must not free the new holder's slot
    assert ProxySlot.objects.exclude(holder="").count() == slots.limit()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: the test database of SQLite is in memory, shared between threads",
)
def test_racing_calls_never_hold_more_than_the_limit(two_per_key, full_key):
    """Each thread has its own database connection, as separate processes would."""

    def take(_: int) -> slots.Slot | None:
        try:
            return slots.acquire(full_key.key)
        except slots.TooManyInFlight:
            return None
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        taken = [slot for slot in pool.map(take, range(16)) if slot is not None]
    assert len(taken) == 2
    assert {slot.number for slot in taken} == {0, 1}
    assert ProxySlot.objects.exclude(holder="").count() == 2
