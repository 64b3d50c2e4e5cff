"""The proxy's share of a Front company's rate budget (shared with checks and refreshes)."""

from __future__ import annotations

from collections.abc import Mapping

from connections.models import Connection


def budget_wait(connection: Connection, *, wait: float) -> float | None:
    """Take one request from the company's budget, waiting up to ``wait`` seconds for room.

    Returns None when the request may go, else the seconds after which to try again.
    """
    return None


def budget_report(connection: Connection, headers: Mapping[str, str]) -> None:
    """Tell the budget what Front's rate-limit headers said."""
    return None
