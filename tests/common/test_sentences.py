"""Store codes, render words (issue 19 item 4): what history and statuses store is a code with
parameters, shown in the reader's language and time zone; scripts get English and the code."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.utils import timezone, translation

from alerts.webhooks import transition_data
from common.wording import NOTHING, TEXT, Said, said, said_from_english
from connections.models import Event, Source, Status, Transition
from connections.status import connection_status_set

pytestmark = pytest.mark.django_db

RENEWED_AT = datetime(2026, 7, 1, 12, 30, tzinfo=UTC)


def test_an_unknown_code_is_refused_when_written():
    with pytest.raises(KeyError, match="no.such.sentence"):
        said("no.such.sentence")


def test_a_sentence_reads_in_the_language_of_the_reader():
    sentence = said("check.online", company="Acme")
    with translation.override("en"):
        assert str(sentence) == "Online: Front company Acme."
    with translation.override("fr"):
        assert str(sentence) == "En ligne\u00a0: entreprise Front Acme."
    assert sentence.english() == "Online: Front company Acme."


def test_a_nested_sentence_and_a_status_name_are_translated_too():
    sentence = said(
        "verdict.superseded",
        verdict=said(
            "verdict.status", status=said("status.online"), reason=said("check.no_answer")
        ),
    )
    assert "(Online: Front gave no answer.)" in sentence.english()
    with translation.override("fr"):
        assert "(En ligne\u00a0: Front n\u2019a donné aucune réponse.)" in str(sentence)


def test_a_time_is_shown_in_the_reader_time_zone():
    sentence = said("token.renewed", until_at=RENEWED_AT)
    assert sentence.params["until_at"] == "2026-07-01T12:30:00+00:00"
    with translation.override("en"), timezone.override("UTC"):
        assert str(sentence) == "Access token renewed until 2026-07-01 12:30 UTC."
    with translation.override("en"), timezone.override("Europe/Paris"):
        assert str(sentence) == "Access token renewed until 2026-07-01 14:30 CEST."
    with translation.override("fr"), timezone.override("Asia/Tokyo"):
        assert str(sentence) == "Jeton d\u2019accès renouvelé jusqu\u2019au 2026-07-01 21:30 JST."


def test_a_duration_counts_in_words():
    assert said("budget.used_up", seconds=1).english().endswith("try again in 1 second.")
    assert said("budget.used_up", seconds=5).english().endswith("try again in 5 seconds.")


def test_a_row_stores_the_code_and_reads_back_a_sentence(oauth_connection):
    connection_status_set(
        connection=oauth_connection,
        status=Status.REAUTHORIZE,
        reason=said("token.reauthorize"),
        source=Source.WORKER,
    )
    transition = Transition.objects.get(connection=oauth_connection)
    assert transition.reason == said("token.reauthorize")
    assert Transition.objects.filter(reason__code="token.reauthorize").count() == 1
    with translation.override("fr"):
        assert str(transition.reason).startswith("Front n\u2019accepte plus")


def test_free_text_and_nothing_are_kept_as_they_are():
    assert Said.of("Some old sentence.") == Said(TEXT, {"text": "Some old sentence."})
    assert str(Said.of("Some old sentence.")) == "Some old sentence."
    assert not NOTHING and str(NOTHING) == "" and Said.of("") == NOTHING
    event = Event(message="")
    assert event.message == NOTHING


def test_a_code_of_a_newer_version_falls_back_to_its_text_or_code():
    assert str(Said("from.the.future", {"text": "Kept words."})) == "Kept words."
    assert str(Said("from.the.future", {})) == "from.the.future"
    # Parameters of an older version of a sentence: its code, not a crash.
    assert str(Said("check.online", {})) == "check.online"


@pytest.mark.parametrize(
    ("text", "code", "params"),
    [
        ("Online: Front company Acme.", "check.online", {"company": "Acme"}),
        ("Authorization link 12 revoked.", "link.revoked", {"link": 12}),
        (
            "Front refused GET /me (HTTP 404: Not found).",
            "front.refused_because",
            {"what": "GET /me", "status": 404, "detail": "Not found"},
        ),
        ("Created by import.", "history.imported_new", {}),
        ("Words nobody registered.", TEXT, {"text": "Words nobody registered."}),
    ],
)
def test_an_english_sentence_of_before_becomes_its_code(text, code, params):
    found = said_from_english(text)
    assert (found.code, dict(found.params)) == (code, params)
    assert found.english() == text


def test_webhooks_send_english_and_the_code_whoever_reads_french(oauth_connection):
    with translation.override("fr"):
        transition = connection_status_set(
            connection=oauth_connection,
            status=Status.REAUTHORIZE,
            reason=said("token.reauthorize"),
            source=Source.WORKER,
        )
        data = json.loads(json.dumps(transition_data(transition)))
    assert (
        data["reason"]
        == "Front no longer accepts this connection's authorization: authorize it again."
    )
    assert data["reason_code"] == "token.reauthorize"
    assert data["new_status_label"] == "Needs reauthorization"
