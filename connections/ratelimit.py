"""A rate budget per Front company, shared by every process and host through the database.

Front counts requests per company across all of its tokens (50 to 200 a minute by plan; an OAuth
app has its own 120 a minute per company). FrontConnect takes at most ``FRONTCONNECT_RATE_SHARE``
of that limit, so the company's own integrations keep the rest. Every caller of Front (checks,
refreshes, the API proxy) asks for a ``Permit`` before a call and reports Front's rate-limit
headers after it; work that does not fit gets a ``Deferred`` with the seconds to wait, instead of
provoking a 429.

``DatabaseBudget`` is the ``front.Budget`` installed for the whole process when the app loads:
the Front client calls its ``acquire`` before and ``observe`` after every request that names a
budget key. A caller that took a permit itself (the concurrent checker, which defers work rather
than fail it) passes it down with ``budget_scope``; the first call inside spends it.

Each claim is one conditional UPDATE (``used < allowance`` in the current window, not blocked),
so no lock is held across a call and two processes can never both take the last permit. It works
the same on SQLite and PostgreSQL; on PostgreSQL the table is unlogged
(``common.db.unlogged_table``), so a claim commits without waiting for the disk.

Fair by construction: the API proxy (``proxy_acquire``) never takes the part of the share kept for
checks and refreshes (``FRONTCONNECT_RESERVED_SHARE``), one API key never more than
``FRONTCONNECT_KEY_SHARE`` of the share (a row of its own per company, ``<caller>@<key>``), and a
429 that Front gives for one route's own limit holds back only that route (``route:`` rows),
while a 429 for the company's limit blocks the company for no longer than Front's window.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ExpressionWrapper, F, FloatField, PositiveIntegerField, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from common import metrics
from common.crypto import UndecryptableSecret
from common.statements import CompiledQuery, Mark
from common.text import name_key
from common.wording import said
from connections import front
from connections.front_types import FrontError, FrontErrorKind, RateLimit
from connections.models import Connection, RateBudget

# Front's limits are per minute; until a response says otherwise, assume the lowest plan.
WINDOW = timedelta(minutes=1)
STARTING_LIMIT = 50
# Front answers ``x-ratelimit-reset`` in Unix seconds; anything smaller is read as a delay.
_EPOCH_THRESHOLD = 1_000_000_000
_MAX_LIMIT = 100_000
# How long a call made for a person (a Test button, an API request) may wait for room.
INTERACTIVE_WAIT = 2.0
# Front answered 429 without saying for how long: assume the rest of its window.
DEFAULT_RETRY_AFTER = 60.0


# (limit, window reset) this process last stored per key: most answers repeat them.
_seen: dict[str, tuple[int | None, datetime | None]] = {}

# A large allowance is claimed in blocks of at most 1/BLOCK_DIVISOR of it, so a busy caller (the
# API proxy) writes the database once per block instead of once per call. What a process holds
# expires with the window it was claimed in, and a 429 forgets it, so the share is never exceeded.
BLOCK_DIVISOR = 20
_held: dict[str, tuple[int, datetime]] = {}
_allowances: dict[str, int] = {}
_held_lock = threading.Lock()


def _held_key(key: str, proxy: bool) -> str:
    """Permits claimed for the proxy are held apart: they were counted against its part."""
    return f"{key}#proxy" if proxy else key


def _take_held(key: str, now: datetime) -> bool:
    with _held_lock:
        count, until = _held.get(key, (0, now))
        if count > 0 and until > now:
            _held[key] = (count - 1, until)
            return True
        _held.pop(key, None)
        return False


def _hold(key: str, count: int, until: datetime) -> None:
    """Keep ``count`` claimed permits; threads that claimed blocks of one window add them up."""
    if count > 0:
        with _held_lock:
            held, held_until = _held.get(key, (0, until))
            _held[key] = (count + (held if held_until == until else 0), until)


@dataclass(frozen=True)
class Permit:
    """Leave to make one call to Front on the budget ``key``."""

    key: str


@dataclass(frozen=True)
class Deferred:
    """No room on the budget ``key`` now; try again in ``retry_after`` seconds.

    ``held`` says what has no room: the ``company``'s share, the API key's ``part`` of it, or
    one ``route`` Front limited on its own (a per-route 429).
    """

    key: str
    retry_after: float
    held: str = "company"


def budget_key(connection: Connection) -> str:
    """The budget a connection's calls draw on: its company once Front has named it.

    Before that, the company name entered for it, normalised (``common.text.name_key``) and
    digested, so that the first checks of many new connections of one company share one budget;
    without a name, a digest of its token (never the token; ``front.budget_key``); a connection
    without either, its id.
    """
    if connection.front_company_id:
        return front.budget_key(company_id=connection.front_company_id)
    name = name_key(connection.company_name or "")
    if name:
        return "name:" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:24]
    secret = connection.access_token if connection.is_oauth else connection.api_token
    if secret and not isinstance(secret, UndecryptableSecret):
        return front.budget_key(company_id="", token=str(secret))
    return f"connection:{connection.pk}"


def route_key(key: str, route: str) -> str:
    """The row that holds back one route (``"GET conversations/cnv_1"``) of budget ``key``."""
    return "route:" + hashlib.sha256(f"{key} {route}".encode()).hexdigest()[:24]


def _share() -> float:
    return float(settings.FRONTCONNECT_RATE_SHARE)


def _allowance(limit: int, part: float = 1.0) -> int:
    """FrontConnect's share of ``limit`` per window (``part`` of it for one API key's row)."""
    return max(1, math.floor(limit * _share() * part))


def _proxy_part() -> float:
    """The part of the share the proxy may take: all but what is kept for checks and refreshes."""
    return 1.0 - float(settings.FRONTCONNECT_RESERVED_SHARE)


def _key_part() -> float:
    return float(settings.FRONTCONNECT_KEY_SHARE)


def _sizing(limit: int | None, parent: str | None) -> tuple[int, int]:
    """(limit, allowance) of a new window; one API key's row follows its company's limit."""
    if parent is not None:
        limit = RateBudget.objects.filter(key=parent).values_list("limit", flat=True).first()
        limit = limit or STARTING_LIMIT
        return limit, _allowance(limit, _key_part())
    limit = limit or STARTING_LIMIT
    return limit, _allowance(limit)


def _seconds(until: datetime, now: datetime) -> float:
    return max(0.0, (until - now).total_seconds())


def _create(key: str, *, now: datetime, used: int, parent: str | None = None) -> bool:
    """Insert the budget row for ``key``; False if another process inserted it first."""
    limit, allowance = _sizing(None, parent)
    try:
        with transaction.atomic():
            RateBudget.objects.create(
                key=key,
                limit=limit,
                allowance=allowance,
                used=used,
                window_reset=now + WINDOW,
            )
    except IntegrityError:
        return False
    return True


def _claim(key: str, now: datetime, count: int, *, proxy: bool) -> bool:
    """One conditional UPDATE: ``count`` permits of the current window of ``key``, if they fit
    (and, for the proxy, fit its part too)."""
    unblocked = Q(blocked_until__isnull=True) | Q(blocked_until__lte=now)
    rows = RateBudget.objects.filter(unblocked, key=key, window_reset__gt=now).filter(
        used__lte=F("allowance") - count
    )
    changes: dict[str, object] = {"used": F("used") + count, "updated_at": now}
    if proxy:
        room = ExpressionWrapper(F("allowance") * Value(_proxy_part()), output_field=FloatField())
        rows = rows.filter(proxy_used__lte=room - Value(count))
        changes["proxy_used"] = F("proxy_used") + count
    return bool(rows.update(**changes))


def _claim_block(key: str, now: datetime, *, proxy: bool) -> bool:
    """Claim several permits in one statement when the allowance is large; keep the spare ones."""
    block = _allowances.get(key, 0) // BLOCK_DIVISOR
    if block < 2 or not _claim(key, now, block, proxy=proxy):
        return False
    until = RateBudget.objects.filter(key=key).values_list("window_reset", flat=True).first()
    _hold(_held_key(key, proxy), block - 1, until or now)
    return True


def _has_room(row: RateBudget, *, proxy: bool) -> bool:
    if row.used >= row.allowance:
        return False
    return not proxy or row.proxy_used + 1 <= row.allowance * _proxy_part()


def _try_acquire(key: str, *, proxy: bool = False, parent: str | None = None) -> Permit | Deferred:
    """One permit on ``key`` (for the proxy: within its part); ``parent`` is the company whose
    limit sizes ``key``'s windows when ``key`` is one API key's row."""
    if _take_held(_held_key(key, proxy), timezone.now()):
        return Permit(key)
    for _attempt in range(4):
        now = timezone.now()
        if _claim_block(key, now, proxy=proxy):
            return Permit(key)
        if _claim(key, now, 1, proxy=proxy):
            if _allowances.get(key, 0) < 2 * BLOCK_DIVISOR:
                # Unknown here, or too small for blocks when this process last read it: another
                # process may have learned a higher limit since. A read per claim only while
                # the allowance is small, i.e. while there are few claims to make.
                allowance = (
                    RateBudget.objects.filter(key=key).values_list("allowance", flat=True).first()
                )
                _allowances[key] = allowance or 0
            return Permit(key)
        row = RateBudget.objects.filter(key=key).first()
        if row is None:
            _create(key, now=now, used=0, parent=parent)
            continue
        if row.blocked_until is not None and row.blocked_until > now:
            return Deferred(key, _seconds(row.blocked_until, now))
        if row.window_reset <= now:
            # The window is over: the one process whose compare-and-swap wins opens the next one,
            # empty; every process then claims in it as usual.
            limit, allowance = _sizing(row.limit, parent)
            RateBudget.objects.filter(pk=row.pk, window_reset=row.window_reset).update(
                used=0, proxy_used=0, window_reset=now + WINDOW, limit=limit,
                allowance=allowance, updated_at=now,
            )  # fmt: skip
            _allowances[key] = allowance
            continue
        if _has_room(row, proxy=proxy):
            # Another process opened a new window between the claim and this read: there is
            # room, so claim again rather than wait for the end of a window just begun.
            continue
        return Deferred(key, _seconds(row.window_reset, now))
    return Deferred(key, 0.05)


def budget_acquire(key: str, *, wait: float = 0.0) -> Permit | Deferred:
    """Take one call's room on ``key``, waiting up to ``wait`` seconds for it, else Deferred."""
    return _waiting(lambda: _try_acquire(key), wait)


def proxy_acquire(
    key: str,
    *,
    caller: str,
    route: str,
    wait: float = 0.0,
    pause: Callable[[float], None] | None = None,
) -> Permit | Deferred:
    """Room for one proxied call on the company budget ``key``, waiting up to ``wait`` seconds
    (with ``pause``, if given, instead of sleeping).

    The ``route`` (method and path) must not be held back by a per-route 429, the ``caller`` (an
    API key) must be within its ``FRONTCONNECT_KEY_SHARE`` of the share, and the proxy within
    the part of the share not reserved for checks and refreshes.
    """
    return _waiting(lambda: _proxy_try(key, caller, route), wait, pause)


# Asked before every proxied call: compiled once per process (``common.statements``).
_ROUTE_ROW = CompiledQuery(
    lambda marks: RateBudget.objects.filter(key=marks["key"]).only("blocked_until"),
    Mark("key", "\x00route key\x00"),
)


def _route_blocked_until(key: str, now: datetime) -> datetime | None:
    """Until when Front limits the route of row ``key`` on its own, if it does now."""
    row = _ROUTE_ROW.first(RateBudget.objects.db, key=key)
    if row is None or row.blocked_until is None or row.blocked_until <= now:
        return None
    return row.blocked_until


def _proxy_try(key: str, caller: str, route: str) -> Permit | Deferred:
    now = timezone.now()
    blocked = _route_blocked_until(route_key(key, route), now)
    if blocked is not None:
        return Deferred(key, _seconds(blocked, now), held="route")
    part = f"{caller}@{key}"
    outcome = _try_acquire(part, parent=key)
    if isinstance(outcome, Deferred):
        return Deferred(key, outcome.retry_after, held="part")
    outcome = _try_acquire(key, proxy=True)
    if isinstance(outcome, Deferred):
        # The company had no room: the caller's permit goes back unused.
        RateBudget.objects.filter(key=part, used__gt=0).update(used=F("used") - 1)
    return outcome


def _waiting(
    attempt: Callable[[], Permit | Deferred],
    wait: float,
    pause: Callable[[float], None] | None = None,
) -> Permit | Deferred:
    """``attempt`` until it gives a permit or ``wait`` runs out, sleeping (or ``pause``-ing) in
    between; a call that found no room at once is counted (``frontconnect_budget_waits_total``)
    as granted later, or deferred."""
    deadline = time.monotonic() + max(0.0, wait)
    waited = False
    while True:
        outcome = attempt()
        if isinstance(outcome, Permit):
            if waited:
                metrics.BUDGET_WAITS.labels("granted").inc()
            return outcome
        left = deadline - time.monotonic()
        if outcome.retry_after > left:
            metrics.BUDGET_WAITS.labels("deferred").inc()
            return outcome
        waited = True
        # A little jitter so that processes waiting for one window do not all retry at once.
        seconds = min(left, outcome.retry_after + random.uniform(0, 0.05))  # noqa: S311  # nosec B311
        (pause or time.sleep)(seconds)


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        value = int(float(headers.get(name, "")))
    except (TypeError, ValueError, OverflowError):
        return None
    return value if 0 <= value <= _MAX_LIMIT else None


def _reset_time(raw: object, now: datetime) -> datetime | None:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    if value < _EPOCH_THRESHOLD:
        return now + timedelta(seconds=min(value, 3600))
    try:
        reset = datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    # A reset in the past, or absurdly far ahead, belongs to another window: ignore it.
    return reset if now < reset <= now + timedelta(hours=1) else None


def budget_observe(key: str, headers: Mapping[str, str]) -> None:
    """Learn from Front's ``x-ratelimit-*`` headers: the limit, what is left, when it resets."""
    headers = {name.lower(): value for name, value in headers.items()}
    _learn(
        key,
        limit=_header_int(headers, "x-ratelimit-limit"),
        remaining=_header_int(headers, "x-ratelimit-remaining"),
        reset=headers.get("x-ratelimit-reset"),
    )


def _learn(key: str, *, limit: int | None, remaining: int | None, reset: object) -> None:
    """Store what one answer says of the budget ``key``; write only when it changes something."""
    now = timezone.now()
    window_end = _reset_time(reset, now)
    if limit == 0:
        limit = None
    if limit is None and remaining is None and window_end is None:
        return
    seen = (limit, window_end)
    if remaining is not None and limit is not None and remaining >= _allowance(limit):
        # Front has more left than FrontConnect's whole share, so ``used`` cannot rise; if this
        # process already stored this limit and window, there is nothing to write or read.
        if _seen.get(key) == seen:
            return
    row = RateBudget.objects.filter(key=key).first()
    if row is None:
        _create(key, now=now, used=0)
        row = RateBudget.objects.get(key=key)
    if len(_seen) > 10_000:
        _seen.clear()
    _seen[key] = seen
    changes: dict[str, object] = {}
    allowance = row.allowance
    if limit is not None and limit != row.limit:
        allowance = _allowance(limit)
        changes.update(limit=limit, allowance=allowance)
    _allowances[key] = allowance
    current = row.window_reset > now
    if (
        window_end is not None
        and current
        and abs((window_end - row.window_reset).total_seconds()) >= 1
    ):
        changes["window_reset"] = window_end
    rows = RateBudget.objects.filter(pk=row.pk)
    if remaining is not None and (current or window_end is not None):
        # Front's count includes the company's other integrations: what they spent leaves less
        # room for FrontConnect, and Front's remaining reaching 0 closes the window for it.
        spent = allowance - remaining
        if changes:
            changes["used"] = Greatest(F("used"), Value(spent), output_field=PositiveIntegerField())
        elif row.used < spent:
            # Most answers change nothing; writing only then keeps checks off the commit path.
            changes["used"] = spent
            rows = rows.filter(used__lt=spent)
    if changes:
        rows.update(updated_at=now, **changes)
    if "limit" in changes and limit is not None:
        # Each API key's part follows the company's limit at once, not from its next window.
        part = _allowance(limit, _key_part())
        RateBudget.objects.filter(key__endswith=f"@{key}").update(
            limit=limit, allowance=part, updated_at=now
        )
        # This process claims the parts it knows in blocks of the new size from now on too.
        for known in [known for known in _allowances if known.endswith(f"@{key}")]:
            _allowances[known] = part


def budget_report(key: str, rate: RateLimit, *, route: str = "") -> float | None:
    """Learn from one answer of Front; on a 429, hold back what it limits and return the wait.

    A 429 for the company's limit blocks ``key`` for Front's retry-after, but never longer than
    Front's window (a minute). A 429 for one route's own limit (``RateLimit.per_route``) blocks
    nothing of the company: only that ``route``, when the caller names one (the proxy).
    """
    _learn(key, limit=rate.limit, remaining=rate.remaining, reset=rate.reset)
    if rate.status != 429:
        return None
    metrics.FRONT_429.labels("route" if rate.per_route else "company").inc()
    wait = rate.retry_after if rate.retry_after is not None else DEFAULT_RETRY_AFTER
    wait = wait if math.isfinite(wait) else DEFAULT_RETRY_AFTER
    if rate.per_route:
        if route:
            budget_penalise(route_key(key, route), wait)
        return wait
    wait = min(wait, WINDOW.total_seconds())
    budget_penalise(key, wait)
    return wait


def budget_cache_clear() -> None:
    """Forget what this process remembers of the budgets (tests roll the rows back)."""
    _seen.clear()
    _allowances.clear()
    with _held_lock:
        _held.clear()


def budget_penalise(key: str, retry_after: float) -> None:
    """Front answered 429: block ``key`` for ``retry_after`` seconds (never shortening a block)."""
    now = timezone.now()
    until = now + timedelta(seconds=min(max(retry_after, 0.0), 3600))
    with _held_lock:
        _held.pop(key, None)
        _held.pop(_held_key(key, True), None)
    if not RateBudget.objects.filter(key=key).exists():
        _create(key, now=now, used=0)
    RateBudget.objects.filter(key=key).filter(
        Q(blocked_until__isnull=True) | Q(blocked_until__lt=until)
    ).update(blocked_until=until, updated_at=now)


@dataclass
class BudgetScope:
    """Front calls in a ``budget_scope`` block; says afterwards whether one was refused room."""

    permit: Permit | None
    wait: float
    # Set when a call in the block found no room, or Front answered 429: seconds to wait.
    retry_after: float | None = None


_scope: ContextVar[BudgetScope | None] = ContextVar("budget_scope", default=None)


@contextmanager
def budget_scope(*, permit: Permit | None = None, wait: float = 0.0) -> Iterator[BudgetScope]:
    """Front calls in this block: ``permit`` (taken earlier) pays the first, the rest wait up
    to ``wait`` seconds for room."""
    scope = BudgetScope(permit=permit, wait=wait)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


class DatabaseBudget:
    """The ``front.Budget`` of this process: the shared budgets in the database."""

    def acquire(self, key: str) -> None:
        """Pay for one call on ``key``, or raise a rate-limited FrontError to defer it."""
        scope = _scope.get()
        if scope is not None and scope.permit is not None:
            scope.permit = None
            return
        outcome = budget_acquire(key, wait=scope.wait if scope is not None else INTERACTIVE_WAIT)
        if isinstance(outcome, Permit):
            return
        if scope is not None:
            scope.retry_after = outcome.retry_after
        raise FrontError(
            said("budget.used_up", seconds=max(1, round(outcome.retry_after))),
            kind=FrontErrorKind.RATE_LIMITED,
            retry_after=outcome.retry_after,
        )

    def observe(self, key: str, rate: RateLimit) -> None:
        """Learn from one answer's rate headers; a 429 defers the caller (``budget_report``)."""
        wait = budget_report(key, rate)
        scope = _scope.get()
        if wait is not None and scope is not None:
            scope.retry_after = wait
