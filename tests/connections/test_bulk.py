"""The bulk services: streamed readers, reversible CSV neutralising, batched writes."""

from __future__ import annotations

import io
import json

import pytest

from connections import bulk, bulk_formats
from connections.bulk import BATCH_SIZE, connection_import
from connections.bulk_formats import ImportRefused, csv_escape, csv_unescape, rows_read
from connections.models import Action, Connection, Event
from tests.conftest import API_TOKEN


@pytest.mark.parametrize(
    "value", ["plain", "=1+1", "+x", "-x", "@x", "\tx", "\rx", "'quoted", "'=x", "''x", ""]
)
def test_csv_escape_is_undone_exactly(value):
    assert csv_unescape(csv_escape(value)) == value


def test_csv_escape_neutralises_formulas_only():
    assert csv_escape("=cmd") == "'=cmd"
    assert csv_escape("Sales") == "Sales"
    assert csv_escape("'Tis") == "'Tis"


def test_json_reader_streams_across_small_chunks(monkeypatch):
    monkeypatch.setattr(bulk_formats, "JSON_CHUNK_BYTES", 7)
    items = [{"name": f"n{i}", "company_name": "ü" * i, "auth_type": "token"} for i in range(30)]
    data = (" \n" + json.dumps(items, indent=2) + "\n").encode()
    rows = list(rows_read(io.BytesIO(data), "json"))
    assert [where for where, _ in rows] == [f"index {i}" for i in range(30)]
    assert rows[29][1]["company_name"] == "ü" * 29


def test_json_reader_refuses_an_item_over_the_size_cap(monkeypatch):
    monkeypatch.setattr(bulk_formats, "JSON_CHUNK_BYTES", 16)
    monkeypatch.setattr(bulk_formats, "JSON_MAX_ITEM_CHARS", 64)
    data = json.dumps([{"name": "x" * 200}]).encode()
    with pytest.raises(ImportRefused) as excinfo:
        list(rows_read(io.BytesIO(data), "json"))
    assert str(excinfo.value.errors[0]) == "index 0: an item is longer than 64 characters"


def test_csv_reader_reports_start_line_of_multiline_record():
    data = b'name,company_name,auth_type\n"a\nb",Acme,token\nc,Acme\n'
    rows = list(rows_read(io.BytesIO(data), "csv"))
    assert rows[0][0] == "line 2" and rows[0][1]["name"] == "a\nb"
    assert rows[1][0] == "line 4" and "has 2 cells" in str(rows[1][1])


def csv_rows(count: int, bad_at: int | None = None) -> io.BytesIO:
    lines = ["name,company_name,auth_type,api_token,owner"]
    for i in range(count):
        token = "" if i == bad_at else API_TOKEN
        lines.append(f"Inbox {i},Acme,token,{token},alice")
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def test_import_writes_several_batches_with_one_event_each(owner):
    result = connection_import(stream=csv_rows(BATCH_SIZE * 2 + 5), fmt="csv")
    assert (result.created, result.updated, result.unchanged) == (BATCH_SIZE * 2 + 5, 0, 0)
    assert Connection.objects.count() == BATCH_SIZE * 2 + 5
    assert Event.objects.filter(action=Action.IMPORTED, actor=None).count() == BATCH_SIZE * 2 + 5
    assert Connection.objects.get(name="Inbox 2004").api_token == API_TOKEN


def test_a_bad_row_after_the_first_batch_writes_nothing(owner):
    with pytest.raises(ImportRefused) as excinfo:
        connection_import(stream=csv_rows(BATCH_SIZE + 10, bad_at=BATCH_SIZE + 3), fmt="csv")
    assert [str(e) for e in excinfo.value.errors] == [
        f"line {BATCH_SIZE + 5}, column api_token: Enter the API token from Front. "
        "A Token connection needs an API token."
    ]
    assert not Connection.objects.exists()


def test_actor_is_recorded_on_events(owner, operator):
    connection_import(stream=csv_rows(2), fmt="csv", actor=operator)
    assert set(Event.objects.values_list("actor", flat=True)) == {operator.pk}


def test_secrets_are_stored_encrypted(owner):
    from django.db import connection as db

    connection_import(stream=csv_rows(1), fmt="csv")
    with db.cursor() as cursor:
        cursor.execute("SELECT api_token FROM connections_connection")
        (stored,) = cursor.fetchone()
    assert API_TOKEN.encode() not in bytes(stored)


def test_an_input_that_changes_between_the_passes_is_refused(owner, monkeypatch):
    changed = io.BytesIO(b"name,company_name,auth_type\nInbox 0,Acme\n")
    passes = iter([list(rows_read(csv_rows(1), "csv")), list(rows_read(changed, "csv"))])
    monkeypatch.setattr(bulk, "rows_read", lambda stream, fmt, max_bytes: iter(next(passes)))
    with pytest.raises(ImportRefused) as excinfo:
        connection_import(stream=io.BytesIO(), fmt="csv")
    assert [str(e) for e in excinfo.value.errors] == [
        "line 2: has 2 cells but the header has 3 columns"
    ]
    assert not Connection.objects.exists()
