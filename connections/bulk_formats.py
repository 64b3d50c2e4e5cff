"""Reading and writing the bulk formats: CSV and JSON rows, streamed, with row-level errors.

Readers yield one row at a time so memory stays flat; every message names a row (CSV line or
JSON index) and a column, never a value, so no secret can leak through them.
"""

from __future__ import annotations

import codecs
import csv
import decimal
import io
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

COLUMNS = (
    "name", "company_name", "auth_type", "api_token", "oauth_client", "scopes", "owner", "team",
)  # fmt: skip
REQUIRED_COLUMNS = ("name", "company_name", "auth_type")
FORMATS = ("csv", "json")
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
JSON_CHUNK_BYTES = 64 * 1024
JSON_MAX_ITEM_CHARS = 1024 * 1024
# Far above any real value (the longest, an API token, is 4,096 characters of which no sane one
# is all digits), far below what makes ijson's C backend crash (4,300).
JSON_MAX_DIGITS = 1000
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
        if self.column:
            return _("%(where)s, column %(column)s: %(reason)s") % {
                "where": self.where,
                "column": self.column,
                "reason": self.reason,
            }
        return _("%(where)s: %(reason)s") % {"where": self.where, "reason": self.reason}


def input_where() -> str:
    """Where a problem of the whole input is: no row in particular."""
    return _("input")


def line_where(number: int) -> str:
    """Where a CSV row is: its line."""
    return _("line %(number)s") % {"number": number}


def index_where(number: int) -> str:
    """Where a JSON row is: its index in the list."""
    return _("index %(number)s") % {"number": number}


def number_text(value: int) -> str:
    """A count with the active language's thousands separator."""
    return number_format(value, force_grouping=True)


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
            raise ImportRefused([RowError(input_where(), "", _too_big(max_bytes))])
        spool.write(chunk)
    spool.seek(0)
    return spool


def import_check_size(*, stream: IO[bytes], max_bytes: int) -> None:
    """Refuse a seekable input larger than the cap before parsing any of it."""
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    if size > max_bytes:
        raise ImportRefused([RowError(input_where(), "", _too_big(max_bytes))])


def _too_big(max_bytes: int) -> str:
    return ngettext(
        "the input is larger than the limit of %(count)s byte (--max-bytes)",
        "the input is larger than the limit of %(count)s bytes (--max-bytes)",
        max_bytes,
    ) % {"count": number_text(max_bytes)}


def _csv_rows(text: IO[str]) -> Iterator[tuple[str, dict[str, Any] | RowError]]:
    reader = csv.reader(text, strict=True)
    first = line_where(1)
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        reason = _("the input is empty; it needs a header row")
        raise ImportRefused([RowError(first, "", reason)]) from None
    except csv.Error as exc:
        reason = _("malformed CSV (%(error)s)") % {"error": exc}
        raise ImportRefused([RowError(first, "", reason)]) from None
    # A real header names at least the required columns; a first line with several cells none
    # of which is a column is data (a file without a header row): say so, and show none of it.
    if len(header) >= len(REQUIRED_COLUMNS) and not set(header) & set(COLUMNS):
        raise ImportRefused([RowError(first, "", _no_header())])
    problems = header_problems(header, first)
    if problems:
        raise ImportRefused(problems)
    line = reader.line_num
    while True:
        where = line_where(line + 1)
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = _("malformed CSV (%(error)s)") % {"error": exc}
            raise ImportRefused([RowError(where, "", reason)]) from None
        line = reader.line_num
        if not fields or not any(value.strip() for value in fields):
            continue
        if len(fields) != len(header):
            reason = ngettext(
                "has %(cells)s cell but the header has %(columns)s columns",
                "has %(cells)s cells but the header has %(columns)s columns",
                len(fields),
            ) % {"cells": len(fields), "columns": len(header)}
            yield where, RowError(where, "", reason)
            continue
        yield (
            where,
            {col: csv_unescape(val) for col, val in zip(header, fields, strict=True)},
        )


COLUMN_NAME_SHAPE = re.compile(r"[A-Za-z][A-Za-z_ ]{0,29}")
MAX_HEADER_PROBLEMS = 20


def _no_header() -> str:
    return _(
        "this is not a header row (none of its cells names a column); the first line must name "
        "the columns: %(columns)s"
    ) % {"columns": ", ".join(COLUMNS)}


def _column_label(column: str, position: int) -> str:
    # A file without a header row puts its first row (tokens included) where the column
    # names should be: a cell is named only if it has the shape of a column's name
    # (letters, underscores and spaces, short), never a cell with digits or symbols, as tokens
    # have.
    if COLUMN_NAME_SHAPE.fullmatch(column):
        return column
    return _("#%(position)s (not shown)") % {"position": position}


def header_problems(
    columns: list[str], where: str, *, repeated_refused: bool = True
) -> list[RowError]:
    """Unknown, repeated and missing columns of a header, without echoing odd cells (linear).

    ``repeated_refused=False`` lets a column appear twice (in a JSON object the last one wins).
    """
    first: dict[str, int] = {}
    repeated: dict[str, int] = {}
    problems = []
    for position, column in enumerate(columns, start=1):
        if column in first:
            repeated.setdefault(column, first[column])
            continue
        first[column] = position
        if column not in COLUMNS:
            reason = _("unknown column; the columns are %(columns)s") % {
                "columns": ", ".join(COLUMNS)
            }
            problems.append(RowError(where, _column_label(column, position), reason))
    if repeated_refused:
        problems += [
            RowError(where, _column_label(column, position), _("this column is repeated"))
            for column, position in repeated.items()
        ]
    problems += [
        RowError(where, column, _("this required column is missing"))
        for column in REQUIRED_COLUMNS
        if column not in first
    ]
    if len(problems) > MAX_HEADER_PROBLEMS:
        more = len(problems) - MAX_HEADER_PROBLEMS
        problems = problems[:MAX_HEADER_PROBLEMS]
        reason = ngettext(
            "and %(count)s more problem with the columns",
            "and %(count)s more problems with the columns",
            more,
        ) % {"count": number_text(more)}
        problems.append(RowError(where, "", reason))
    return problems


class _JsonGuard:
    """The bytes ijson reads, checked on the way in, in one linear pass.

    It enforces the size cap, drops a UTF-8 byte order mark, refuses text that is not UTF-8, and
    cuts the input short before a run of digits too long to be a sane number: ijson's C backend
    crashes the process on integers longer than Python converts. Cutting (instead of raising)
    lets the parser deliver every event before the problem, so the reader names the right item.
    """

    def __init__(self, stream: IO[bytes], max_bytes: int | None) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self.read_bytes = 0
        self.digits = 0  # length of the run of digits at the end of the bytes delivered so far
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.problem = ""
        self.started = False

    def read(self, size: int = -1) -> bytes:
        if self.problem or size == 0:  # ijson reads 0 bytes first to learn the stream's type
            return b""
        data = self.stream.read(size if size > 0 else JSON_CHUNK_BYTES)
        self.read_bytes += len(data)
        if self.max_bytes is not None and self.read_bytes > self.max_bytes:
            raise ImportRefused([RowError(input_where(), "", _too_big(self.max_bytes))])
        if not self.started:
            self.started = True
            data = data.removeprefix(codecs.BOM_UTF8)
        try:
            self.decoder.decode(data, final=not data)
        except UnicodeDecodeError:
            self.problem = _("the input is not UTF-8 text")
            return b""
        return self._cut_long_numbers(data)

    def _cut_long_numbers(self, data: bytes) -> bytes:
        leading = len(data) - len(data.lstrip(b"0123456789"))
        if self.digits + leading > JSON_MAX_DIGITS:
            self.problem = _too_long_number()
            return b""
        found = _LONG_DIGITS.search(data)
        if found is not None:
            self.problem = _too_long_number()
            return data[: found.start()]
        trailing = len(data) - len(data.rstrip(b"0123456789"))
        self.digits = self.digits + trailing if trailing == len(data) else trailing
        return data


def _too_long_number() -> str:
    return _("a number is longer than %(count)s digits") % {"count": number_text(JSON_MAX_DIGITS)}


_LONG_DIGITS = re.compile(rb"[0-9]{%d}" % (JSON_MAX_DIGITS + 1))


def _json_rows(
    stream: IO[bytes], max_bytes: int | None
) -> Iterator[tuple[str, dict[str, Any] | RowError]]:
    """Yield the objects of a top-level JSON list one at a time, streamed by ijson."""
    guard = _JsonGuard(stream, max_bytes)
    events = ijson.basic_parse(guard, buf_size=JSON_CHUNK_BYTES)
    index = 0
    finished = False
    try:
        event, value = next(events, ("", None))
        if event != "start_array":
            if guard.problem:
                raise _refuse(index_where(0), guard.problem)
            raise _refuse(index_where(0), _("the JSON input must be a list of objects"))
        for event, value in events:
            if event == "end_array":
                finished = True
                break
            where = index_where(index)
            yield where, _json_item(event, value, events, where)
            index += 1
        for _event in events:  # the parser refuses anything after the list
            break
    except (ijson.JSONError, ValueError, decimal.InvalidOperation):
        # Never the parser's message: it quotes the input, which may hold a token.
        where = index_where(index)
        if guard.problem:
            raise _refuse(where, guard.problem) from None
        if finished:
            reason = _("malformed JSON (unexpected content after the list)")
            raise _refuse(where, reason) from None
        raise _refuse(where, _("malformed JSON")) from None


def _refuse(where: str, reason: str) -> ImportRefused:
    return ImportRefused([RowError(where, "", reason)])


def _json_item(
    event: str, value: Any, events: Iterator[tuple[str, Any]], where: str
) -> dict[str, Any] | RowError:
    """Read one item of the list from the parser's events, without recursion, size-capped."""
    budget = _Budget(where)
    if event != "start_map":
        if event in ("start_array",):
            _json_skip(events, budget)
        return RowError(where, "", _("each item of the list must be an object"))
    pairs: list[tuple[str, Any]] = []
    problem: RowError | None = None
    for event, key in events:
        budget.spend(key)
        if event == "end_map":
            break
        event, value = next(events)
        budget.spend(value)
        if event in ("string", "null"):
            pairs.append((key, value))
        elif event == "start_array" and key == "scopes":
            codes = _json_codes(events, budget)
            if codes is None:
                problem = problem or RowError(where, key, _("must be a list of scope codes"))
            pairs.append((key, codes))
        else:
            if event in ("start_map", "start_array"):
                _json_skip(events, budget)
            column = key if key in COLUMNS else _column_label(key, len(pairs) + 1)
            problem = problem or RowError(where, column, _("must be text"))
            pairs.append((key, None))
    return problem or _json_values(pairs, where)


class _Budget:
    """Counts the characters of one item as its events arrive, refusing the input past the cap."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.used = 0

    def spend(self, value: Any) -> None:
        self.used += 4 + (len(value) if isinstance(value, str) else 0)
        if self.used > JSON_MAX_ITEM_CHARS:
            reason = _("an item is longer than %(count)s characters") % {
                "count": number_text(JSON_MAX_ITEM_CHARS)
            }
            raise _refuse(self.where, reason)


def _json_codes(events: Iterator[tuple[str, Any]], budget: _Budget) -> list[str] | None:
    """The strings of a flat list, or None (after skipping it) if it holds anything else."""
    codes: list[str] | None = []
    for event, value in events:
        budget.spend(value)
        if event == "end_array":
            return codes
        if event == "string" and codes is not None:
            codes.append(value)
            continue
        codes = None
        if event in ("start_map", "start_array"):
            _json_skip(events, budget)
    return codes


def _json_skip(events: Iterator[tuple[str, Any]], budget: _Budget) -> None:
    """Consume a nested value whose start was just read: a depth count, no recursion."""
    depth = 1
    for event, value in events:
        budget.spend(value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return


def _json_values(pairs: list[tuple[str, Any]], where: str) -> dict[str, Any] | RowError:
    problems = header_problems([key for key, _value in pairs], where, repeated_refused=False)
    if problems:
        return (
            problems[0]
            if len(problems) == 1
            else RowError(
                where, ", ".join(p.column for p in problems), _("unknown or missing columns")
            )
        )
    values: dict[str, Any] = {}
    for column, value in pairs:
        if isinstance(value, list):
            value = " ".join(value)
        values[column] = value or ""
    return values


def rows_read(
    stream: IO[bytes], fmt: str, max_bytes: int | None = None
) -> Iterator[tuple[str, dict[str, Any] | RowError]]:
    """The rows of a CSV or JSON input, from the start, each with where it is; size-capped."""
    stream.seek(0)
    if fmt == "json":
        yield from _json_rows(stream, max_bytes)
        return
    capped = _Capped(stream, max_bytes)
    text = io.TextIOWrapper(io.BufferedReader(capped), encoding="utf-8-sig", newline="")
    try:
        yield from _csv_rows(text)
    except UnicodeDecodeError:
        reason = _("the input is not UTF-8 text")
        raise ImportRefused([RowError(input_where(), "", reason)]) from None
    finally:
        text.detach()  # Keep the binary stream open for the second pass.


class _Capped(io.RawIOBase):
    """A read-only view of a binary stream that refuses to deliver more than ``max_bytes``."""

    def __init__(self, stream: IO[bytes], max_bytes: int | None) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        self.read_bytes += len(data)
        if self.max_bytes is not None and self.read_bytes > self.max_bytes:
            raise ImportRefused([RowError(input_where(), "", _too_big(self.max_bytes))])
        buffer[: len(data)] = data
        return len(data)
