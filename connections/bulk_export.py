"""Bulk export of connections in the import format (CSV or JSON), streamed, secrets blank."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from django.contrib.auth.models import User

from connections.bulk_formats import COLUMNS, csv_escape
from connections.models import Connection

BATCH_SIZE = 1000


def connection_export(
    *,
    out: IO[str],
    fmt: str,
    owner: User | None = None,
    cell: Callable[[str], str] | None = None,
) -> int:
    """Write every connection (or one owner's) in the import format, secrets blank.

    ``cell`` transforms each CSV value (the command escapes non-printables for a terminal);
    JSON escapes every control and non-ASCII character already.
    """
    connections = Connection.objects.order_by("owner__username", "name", "pk")
    if owner is not None:
        connections = connections.filter(owner=owner)
    rows = connections.values_list(
        "pk", "name", "company_name", "auth_type", "oauth_client__name", "owner__username",
        "team__name",
    )  # fmt: skip
    writer = csv.writer(out, lineterminator="\r\n") if fmt == "csv" else None
    if writer:
        writer.writerow(COLUMNS)
    else:
        out.write("[")
    count = 0
    for batch in _chunks(rows.iterator(chunk_size=BATCH_SIZE), BATCH_SIZE):
        codes: dict[int, list[str]] = {}
        links = Connection.scopes.through.objects.filter(connection_id__in=[r[0] for r in batch])
        for connection_id, code in links.values_list("connection_id", "scope__code"):
            codes.setdefault(connection_id, []).append(code)
        for pk, name, company, auth_type, client, username, team in batch:
            values = [name, company, auth_type, "", client or "",
                      " ".join(sorted(codes.get(pk, []))), username, team or ""]  # fmt: skip
            if writer:
                writer.writerow([csv_escape(cell(v) if cell else v) for v in values])
            else:
                prefix = "," if count else ""
                out.write(f"{prefix}\n  " + json.dumps(dict(zip(COLUMNS, values, strict=True))))
            count += 1
    if not writer:
        out.write("\n]\n" if count else "]\n")
    return count


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
