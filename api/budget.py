"""The proxy's draw on a Front company's rate budget (``connections.ratelimit``), shared with the
worker's checks and refreshes: wait a short while for room, else tell the caller when to retry."""

from __future__ import annotations

from collections.abc import Mapping

from connections import ratelimit
from connections.models import Connection

# Front answered 429 without retry-after: assume the rest of its one-minute window.
DEFAULT_RETRY_AFTER = 60.0


def budget_key_for(connection: Connection) -> str:
    """The budget the connection's calls draw on (its Front company, once known)."""
    return ratelimit.budget_key(connection)


def budget_wait(key: str, *, wait: float) -> float | None:
    """Take one call's room, waiting up to ``wait`` seconds: None if granted, else retry-after."""
    outcome = ratelimit.budget_acquire(key, wait=wait)
    return None if isinstance(outcome, ratelimit.Permit) else outcome.retry_after


def budget_report(key: str, status: int, headers: Mapping[str, str]) -> None:
    """Tell the budget what Front's answer said: its rate-limit headers, and a 429's wait."""
    ratelimit.budget_observe(key, headers)
    if status == 429:
        try:
            wait = float(headers.get("retry-after", DEFAULT_RETRY_AFTER))
        except ValueError:
            wait = DEFAULT_RETRY_AFTER
        ratelimit.budget_penalise(key, wait)
