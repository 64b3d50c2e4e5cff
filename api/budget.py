"""The proxy's draw on a Front company's rate budget (``connections.ratelimit``), shared with the
worker's checks and refreshes: wait a short while for room, else tell the caller when to retry."""

from __future__ import annotations

from collections.abc import Mapping

from connections import ratelimit
from connections.front_types import RateLimit
from connections.models import Connection


def budget_key_for(connection: Connection) -> str:
    """The budget the connection's calls draw on (its Front company, once known)."""
    return ratelimit.budget_key(connection)


def budget_wait(key: str, *, wait: float) -> float | None:
    """Take one call's room, waiting up to ``wait`` seconds: None if granted, else retry-after."""
    outcome = ratelimit.budget_acquire(key, wait=wait)
    return None if isinstance(outcome, ratelimit.Permit) else outcome.retry_after


def budget_report(key: str, status: int, headers: Mapping[str, str]) -> None:
    """Tell the budget what Front's answer said (the one place that also blocks on a 429)."""
    ratelimit.DatabaseBudget().observe(key, RateLimit.from_headers(status, headers))
