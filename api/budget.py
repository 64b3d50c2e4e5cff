"""The proxy's draw on a Front company's rate budget (``connections.ratelimit``), shared with the
worker's checks and refreshes: wait a short while for room, else tell the caller when to retry.

Each API key has its own part of the company's share, the proxy never takes the part kept for
checks and refreshes, and a 429 Front gives for one route holds back that route alone.
"""

from __future__ import annotations

from collections.abc import Mapping

from api.models import ApiKey
from common import serving
from connections import ratelimit
from connections.front_types import RateLimit
from connections.models import Connection


def budget_key_for(connection: Connection) -> str:
    """The budget the connection's calls draw on (its Front company, once known)."""
    return ratelimit.budget_key(connection)


def budget_route(method: str, path: str) -> str:
    """The route a per-route 429 holds back: the method and Front path, without the query."""
    return f"{method.upper()} {path}"


def budget_wait(key: str, *, api_key: ApiKey, route: str, wait: float) -> ratelimit.Deferred | None:
    """Take one call's room, waiting up to ``wait`` seconds: None if granted, else what is held
    back and for how long. Raises ``serving.NoTurn`` if no turn comes back after a wait."""
    outcome = ratelimit.proxy_acquire(
        key,
        caller=f"apikey:{api_key.pk}",
        route=route,
        wait=wait,
        # A call waiting for room is not working: its turn and connection serve others meanwhile.
        pause=serving.pause_between_turns,
    )
    return None if isinstance(outcome, ratelimit.Permit) else outcome


def budget_report(key: str, status: int, headers: Mapping[str, str], *, route: str) -> None:
    """Tell the budget what Front's answer said (a 429 blocks the company, or only ``route``)."""
    ratelimit.budget_report(key, RateLimit.from_headers(status, headers), route=route)
