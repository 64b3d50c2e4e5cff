"""Issue 19 item 5: statuses and durations read as sentences ("needs …", "1 second")."""

from __future__ import annotations

import pytest

from common.text import seconds_text
from connections.models import Status
from connections.wording import status_predicate


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (1, "1 second"),
        (1.0, "1 second"),
        (2, "2 seconds"),
        (0.5, "0.5 seconds"),
        (10, "10 seconds"),
    ],
)
def test_seconds_are_counted_in_words(value, words):
    assert seconds_text(value) == words


def test_a_status_is_put_in_a_sentence_as_a_predicate():
    assert status_predicate(Status.REAUTHORIZE) == "needs reauthorization"
    assert status_predicate(Status.ONLINE) == "is Online"
    assert status_predicate(Status.UNCHECKED) == "is not checked yet"
    for status in Status:
        assert "is Needs" not in status_predicate(status)


def test_the_budget_error_says_one_second_not_one_seconds():
    from api.errors import RateBudgetExhausted

    assert str(RateBudgetExhausted(0.4).detail).endswith("try again in 1 second.")
