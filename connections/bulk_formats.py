"""Reading and writing the bulk formats: CSV and JSON rows, streamed, with row-level errors.

Readers yield one row at a time so memory stays flat; every message names a row (CSV line or
JSON index) and a column, never a value, so no secret can leak through them.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, TypedDict

COLUMNS = ("name", "company_name", "auth_type", "api_token", "oauth_client", "scopes", "owner")
REQUIRED_COLUMNS = ("name", "company_name", "auth_type")
FORMATS = ("csv", "json")
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
JSON_CHUNK_CHARS = 64 * 1024
JSON_MAX_ITEM_CHARS = 1024 * 1024
# Cells a spreadsheet would run as a formula (checklist F6); "'" itself is escaped too so that
# the quoting can be undone exactly on import.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RowError:
    """One reason a row was refused: where (line or index), which column, and why in words."""

    where: str
    column: str
    reason: str

    def __str__(self) -> str:
        column = f", column {self.column}" if self.column else ""
        return f"{self.where}{column}: {self.reason}"


class ImportRefused(Exception):
    """The input was refused as a whole; nothing was written."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the input")
        self.errors = errors


def csv_escape(value: str) -> str:
    """Neutralise a cell a spreadsheet would treat as a formula (and escape a leading quote)."""
    if value.startswith(FORMULA_PREFIXES) or value[:2] in {
        "''",
        *("'" + p for p in FORMULA_PREFIXES),
    }:
        return "'" + value
    return value


def csv_unescape(value: str) -> str:
    """Undo csv_escape for a cell read back from CSV."""
    if value[:1] == "'" and value[1:2] in {"'", *FORMULA_PREFIXES}:
        return value[1:]
    return value


def import_spool(*, stream: IO[bytes], max_bytes: int) -> IO[bytes]:
    """Copy a one-way stream (stdin) to a temporary file so it can be read twice."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    copied = 0
    while chunk := stream.read(1024 * 1024):
        copied += len(chunk)
        if copied > max_bytes:
            spool.close()
            raise ImportRefused([RowError("input", "", _too_big(max_bytes))])
        spool.write(chunk)
    spool.seek(0)
    return spool


def import_check_size(*, stream: IO[bytes], max_bytes: int) -> None:
    """Refuse a seekable input larger than the cap before parsing any of it."""
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    if size > max_bytes:
        raise ImportRefused([RowError("input", "", _too_big(max_bytes))])


def _too_big(max_bytes: int) -> str:
    return f"the input is larger than the limit of {max_bytes:,} bytes (--max-bytes)"


def _csv_rows(text: IO[str]) -> Iterator[tuple[str, dict[str, Any] | RowError]]:
    reader = csv.reader(text, strict=True)
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        reason = "the input is empty; it needs a header row"
        raise ImportRefused([RowError("line 1", "", reason)]) from None
    except csv.Error as exc:
        raise ImportRefused([RowError("line 1", "", f"malformed CSV ({exc})")]) from None
    problems = header_problems(header, "line 1")
    if problems:
        raise ImportRefused(problems)
    line = reader.line_num
    while True:
        start = line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportRefused([RowError(f"line {start}", "", f"malformed CSV ({exc})")]) from None
        line = reader.line_num
        if not fields or not any(value.strip() for value in fields):
            continue
        if len(fields) != len(header):
            reason = f"has {len(fields)} cells but the header has {len(header)} columns"
            yield f"line {start}", RowError(f"line {start}", "", reason)
            continue
        yield (
            f"line {start}",
            {col: csv_unescape(val) for col, val in zip(header, fields, strict=True)},
        )


COLUMN_NAME_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9_ ]{0,39}")


def _column_label(column: str, position: int) -> str:
    # A file without a header row puts its first row (tokens included) where the column
    # names should be: name a cell only if it looks like a column name, else its position.
    if COLUMN_NAME_SHAPE.fullmatch(column):
        return column
    return f"#{position} (not shown)"


def header_problems(columns: list[str], where: str) -> list[RowError]:
    """Unknown, repeated and missing columns of a header, without echoing odd cells."""
    problems = [
        RowError(
            where,
            _column_label(column, position),
            "unknown column; the columns are " + ", ".join(COLUMNS),
        )
        for position, column in enumerate(columns, start=1)
        if column not in COLUMNS
    ]
    problems += [
        RowError(where, _column_label(column, columns.index(column) + 1), "this column is repeated")
        for column in dict.fromkeys(columns)
        if columns.count(column) > 1
    ]
    problems += [
        RowError(where, column, "this required column is missing")
        for column in REQUIRED_COLUMNS
        if column not in columns
    ]
    return problems


class _JsonState(TypedDict):
    buf: str
    pos: int
    eof: bool


def _json_rows(text: IO[str]) -> Iterator[tuple[str, dict[str, Any] | RowError]]:
    """Yield the objects of a top-level JSON list one at a time, without loading the file."""
    decoder = json.JSONDecoder()
    state: _JsonState = {"buf": "", "pos": 0, "eof": False}

    def fill() -> None:
        chunk = text.read(JSON_CHUNK_CHARS)
        state["buf"] = state["buf"][state["pos"] :] + chunk
        state["pos"] = 0
        state["eof"] = not chunk

    def peek() -> str:
        while True:
            buf, pos = state["buf"], state["pos"]
            while pos < len(buf) and buf[pos] in " \t\r\n":
                pos += 1
            state["pos"] = pos
            if pos < len(buf) or state["eof"]:
                return buf[pos : pos + 1]
            fill()

    def refuse(where: str, reason: str) -> ImportRefused:
        return ImportRefused([RowError(where, "", reason)])

    if peek() != "[":
        raise refuse("index 0", "the JSON input must be a list of objects")
    state["pos"] += 1
    index = 0
    if peek() == "]":
        state["pos"] += 1
    else:
        while True:
            peek()
            try:
                item, end = decoder.raw_decode(state["buf"], state["pos"])
            except json.JSONDecodeError as exc:
                if len(state["buf"]) - state["pos"] > JSON_MAX_ITEM_CHARS:
                    reason = f"an item is longer than {JSON_MAX_ITEM_CHARS:,} characters"
                    raise refuse(f"index {index}", reason) from None
                if state["eof"]:
                    raise refuse(f"index {index}", f"malformed JSON ({exc.msg})") from None
                fill()
                continue
            state["pos"] = end
            yield f"index {index}", _json_values(item, f"index {index}")
            index += 1
            after = peek()
            state["pos"] += 1
            if after == "]":
                break
            if after != ",":
                raise refuse(f"index {index}", "malformed JSON (expecting ',' or ']')")
    if peek() != "":
        raise refuse(f"index {index}", "malformed JSON (unexpected content after the list)")


def _json_values(item: Any, where: str) -> dict[str, Any] | RowError:
    if not isinstance(item, dict):
        return RowError(where, "", "each item of the list must be an object")
    problems = [p for p in header_problems(list(item), where) if "repeated" not in p.reason]
    if problems:
        return (
            problems[0]
            if len(problems) == 1
            else RowError(
                where, ", ".join(p.column for p in problems), "unknown or missing columns"
            )
        )
    values: dict[str, Any] = {}
    for column, value in item.items():
        if column == "scopes" and isinstance(value, list):
            if not all(isinstance(code, str) for code in value):
                return RowError(where, column, "must be a list of scope codes")
            value = " ".join(value)
        if value is not None and not isinstance(value, str):
            return RowError(where, column, "must be text")
        values[column] = value or ""
    return values


def rows_read(stream: IO[bytes], fmt: str) -> Iterator[tuple[str, dict[str, Any] | RowError]]:
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="" if fmt == "csv" else None)
    try:
        yield from (_csv_rows(text) if fmt == "csv" else _json_rows(text))
    except UnicodeDecodeError:
        raise ImportRefused([RowError("input", "", "the input is not UTF-8 text")]) from None
    finally:
        text.detach()  # Keep the binary stream open for the second pass.
