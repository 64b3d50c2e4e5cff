"""What a call to Front returns or raises: plain data, no HTTP library (that is ``front/``).

``FrontError.kind`` is a ``FrontErrorKind``: code branches on the kind (or on
``refuses_credential`` / ``is_transient``), never on the sentence, which is only for people.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from common.wording import Said


class FrontErrorKind(StrEnum):
    INVALID_GRANT = "invalid_grant"  # the code or refresh token is spent, expired or revoked
    INVALID_CLIENT = "invalid_client"  # the OAuth 2.0 client's ID or secret was refused
    UNAUTHORIZED = "unauthorized"  # 401: the token is not (or no longer) valid
    FORBIDDEN = "forbidden"  # 403: the token lacks a permission
    RATE_LIMITED = "rate_limited"  # 429, or the rate budget had no room
    UNAVAILABLE = "unavailable"  # 5xx
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"  # no connection: DNS, refused, TLS, reset
    BAD_RESPONSE = "bad_response"  # an answer FrontConnect cannot use (not JSON, a redirect)
    REFUSED = "refused"  # any other refusal (400, 404, an http URL in production)
    # Not Front's answer: a stored secret that no configured key decrypts, so Front was not asked.
    SECRET_UNREADABLE = "secret_unreadable"


CREDENTIAL_REFUSALS = frozenset(
    {
        FrontErrorKind.INVALID_GRANT,
        FrontErrorKind.INVALID_CLIENT,
        FrontErrorKind.UNAUTHORIZED,
        FrontErrorKind.FORBIDDEN,
    }
)
TRANSIENT_KINDS = frozenset(
    {
        FrontErrorKind.RATE_LIMITED,
        FrontErrorKind.UNAVAILABLE,
        FrontErrorKind.TIMEOUT,
        FrontErrorKind.UNREACHABLE,
    }
)


def _number(headers: Mapping[str, str], name: str) -> float | None:
    try:
        value = float(headers.get(name, ""))
    except ValueError:
        return None
    return value if value >= 0 else None


@dataclass(frozen=True)
class RateLimit:
    """Front's rate-limit headers on one response, for the per-company budget."""

    status: int
    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # Unix seconds when the window starts again
    retry_after: float | None = None  # seconds, sent with a 429
    tier: str = ""  # ``x-front-tier``: the route's own (burst or tier) limit that a 429 hit

    @property
    def per_route(self) -> bool:
        """A 429 for one route's own limit, not the company's: Front names a tier, or the
        company still has requests left (``reference/front-api.md``, rate limits)."""
        return self.status == 429 and bool(self.tier or (self.remaining or 0) > 0)

    @classmethod
    def from_headers(cls, status: int, headers: Mapping[str, str]) -> RateLimit:
        """Parse ``x-ratelimit-limit``, ``-remaining``, ``-reset``, ``retry-after`` and
        ``x-front-tier``."""
        limit, remaining = (
            _number(headers, "x-ratelimit-limit"),
            _number(headers, "x-ratelimit-remaining"),
        )
        return cls(
            status=status,
            limit=int(limit) if limit is not None else None,
            remaining=int(remaining) if remaining is not None else None,
            reset=_number(headers, "x-ratelimit-reset"),
            retry_after=_number(headers, "retry-after"),
            tier=str(headers.get("x-front-tier") or "").strip()[:100],
        )


class FrontError(Exception):
    """A call to Front failed; ``message`` is a sentence (code and parameters, see
    ``common.wording``) safe to show, log and store; ``str()`` renders it for the reader."""

    def __init__(
        self,
        message: Said | str,
        *,
        kind: FrontErrorKind | str = FrontErrorKind.REFUSED,
        retry_after: float | None = None,
        rate: RateLimit | None = None,
    ) -> None:
        self.message = Said.of(message)
        super().__init__(self.message.code)
        self.kind = FrontErrorKind(kind)
        self.retry_after = retry_after
        self.rate = rate

    def __str__(self) -> str:
        return str(self.message)

    @property
    def refuses_credential(self) -> bool:
        """Front said no to the credential itself (401, 403, invalid_grant, invalid_client)."""
        return self.kind in CREDENTIAL_REFUSALS

    @property
    def is_transient(self) -> bool:
        """Asking again later may work: rate limited, 5xx, timeout or no connection."""
        return self.kind in TRANSIENT_KINDS


@dataclass(frozen=True)
class TokenResponse:
    """Front's answer from the token endpoint, parsed; the tokens never appear in its repr."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    rate: RateLimit | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Company:
    """The Front company that ``GET /me`` reports for a token."""

    id: str
    name: str
    rate: RateLimit | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ApiResponse:
    """One answer of Front's API, passed through as it came (for the service API's proxy)."""

    status: int
    headers: dict[str, str]
    content: bytes = field(repr=False)
    rate: RateLimit


class Budget(Protocol):
    """A per-company rate budget that every call to Front draws from (``connections.ratelimit``).

    ``acquire`` runs before each request: it returns when the call fits, or raises
    ``FrontError(kind=RATE_LIMITED, retry_after=...)`` to defer it. ``observe`` runs after each
    answer with Front's rate headers. ``key`` is the company's key (see ``front.budget_key``).
    """

    def acquire(self, key: str) -> None: ...

    def observe(self, key: str, rate: RateLimit) -> None: ...
