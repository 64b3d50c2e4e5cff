"""Check many connections at once: concurrent, within each Front company's rate budget.

``connections_check`` runs ``services.connection_check`` in a bounded pool of threads. Before each
check it takes a permit from the connection's budget (``connections.ratelimit``); a company whose
budget is spent waits its turn while the others go on, because the dispatcher takes one
connection per company in turn. A check that does not fit before ``patience`` runs out is not
made at all and is reported as deferred, never as a failure.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db import connections as db_connections
from django.db.models import QuerySet
from django.utils.translation import gettext

from connections.models import Connection, Source, Status
from connections.ratelimit import Deferred, budget_acquire, budget_key, budget_scope
from connections.services import CheckOutcome, connection_check
from connections.wording import Said, said

logger = logging.getLogger(__name__)

# At most this many checks of one company are in flight together: Front also has burst limits.
MAX_IN_FLIGHT_PER_KEY = 4
# The reason given for connections a time-limited run (a request) had no time left to check.
OUT_OF_TIME = said("check.out_of_time")
# How long the dispatcher sleeps at most before looking at the budgets again.
_POLL = 1.0


@dataclass(frozen=True)
class CheckedConnection:
    """How one connection's check went.

    ``checked`` is False when the check was not made (the rate budget deferred it);
    ``retryable`` when it was made but Front could not be asked (a 429, an outage, a timeout):
    the worker checks those again with backoff.
    """

    connection_id: int
    name: str
    owner: str
    status: Status
    result: Said
    checked: bool = True
    online: bool = False
    retryable: bool = False

    @property
    def status_label(self) -> str:
        return str(self.status.label)


@dataclass
class CheckReport:
    """The results of one run, in the order the connections were given."""

    results: list[CheckedConnection] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def online(self) -> int:
        return sum(1 for r in self.results if r.online)

    @property
    def not_online(self) -> int:
        """Front answered, and not with Online (it refused the credential, or another no)."""
        return sum(1 for r in self.results if r.checked and not r.online and not r.retryable)

    @property
    def not_checked(self) -> int:
        """Front gave no verdict: the budget deferred it, or Front could not be asked."""
        return sum(1 for r in self.results if not r.checked or r.retryable)

    @property
    def deferred(self) -> int:
        """Not checked at all: the rate budget had no room before the patience ran out."""
        return sum(1 for r in self.results if not r.checked)

    def summary(self) -> str:
        """The counts in words, as every caller that tests many reports them."""
        return gettext(
            "%(online)s online, %(not_online)s not online, %(not_checked)s not checked"
        ) % {
            "online": self.online,
            "not_online": self.not_online,
            "not_checked": self.not_checked,
        }


def deferred_reason(retry_after: float) -> Said:
    """The sentence shown for a check the rate budget deferred."""
    return said("check.deferred", seconds=max(1, round(retry_after)))


def _result(
    connection: Connection, outcome: CheckOutcome | None = None, *, reason: Said | None = None
) -> CheckedConnection:
    return CheckedConnection(
        connection_id=connection.pk,
        name=connection.name,
        owner=connection.owner.get_username(),
        status=Status(connection.status),
        result=outcome.message if outcome is not None else reason or Said(),
        checked=outcome is not None,
        online=outcome is not None and outcome.online,
        retryable=outcome is not None and outcome.retryable,
    )


def _load(selection: QuerySet[Connection] | Iterable[int]) -> list[Connection]:
    if isinstance(selection, QuerySet):
        queryset = selection
    else:
        queryset = Connection.objects.filter(pk__in=list(selection)).order_by("pk")
    return list(queryset.select_related("owner", "oauth_client"))


@dataclass(frozen=True)
class _Attempt:
    """What one pool task did: its outcome (None if not made), and any wait the budget asked."""

    outcome: CheckOutcome | None
    retry_after: float | None = None


class _Run:
    """One call of ``connections_check``: the queues per budget key and what is in flight."""

    def __init__(
        self,
        connections: list[Connection],
        *,
        concurrency: int,
        patience: float,
        progress: Callable[[CheckedConnection], None] | None,
        time_limit: float | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.deadline = time.monotonic() + patience
        self.stop_at = None if time_limit is None else time.monotonic() + time_limit
        self.progress = progress
        self.results: dict[int, CheckedConnection] = {}
        self.queues: OrderedDict[str, deque[Connection]] = OrderedDict()
        for connection in connections:
            self.queues.setdefault(budget_key(connection), deque()).append(connection)
        self.ready_at: dict[str, float] = {}
        self.running: dict[Future[_Attempt], tuple[str, Connection]] = {}
        self.per_key: Counter[str] = Counter()

    def finish(self, connection: Connection, result: CheckedConnection) -> None:
        self.results[connection.pk] = result
        if self.progress is not None:
            self.progress(result)

    def dispatch(self, submit: Callable[[Connection, str], Future[_Attempt]]) -> int:
        """Start at most one check per key, in turn, while there is room; return how many."""
        started = 0
        now = time.monotonic()
        if self.stop_at is not None and now >= self.stop_at:
            # Out of time (a request must answer): the rest is not checked now, not failed.
            for queue in self.queues.values():
                for connection in queue:
                    self.finish(connection, _result(connection, reason=OUT_OF_TIME))
            self.queues.clear()
            return 0
        for key in list(self.queues):
            if len(self.running) >= self.concurrency:
                break
            if self.ready_at.get(key, 0.0) > now or self.per_key[key] >= MAX_IN_FLIGHT_PER_KEY:
                continue
            queue = self.queues[key]
            connection = queue.popleft()
            if queue:
                self.queues.move_to_end(key)
            else:
                del self.queues[key]
            self.running[submit(connection, key)] = (key, connection)
            self.per_key[key] += 1
            started += 1
        return started

    def collect(self, future: Future[_Attempt]) -> None:
        key, connection = self.running.pop(future)
        self.per_key[key] -= 1
        try:
            attempt = future.result()
        except Exception as exc:
            # The exception's text could quote a secret: only its class name is shown.
            logger.error("Checking connection %s failed: %s", connection.pk, type(exc).__name__)
            reason = said("check.failed", error=type(exc).__name__)
            self.finish(connection, _result(connection, reason=reason))
            return
        if attempt.retry_after is None:
            self.finish(connection, _result(connection, attempt.outcome))
            return
        # The budget (or Front, with a 429) asked to wait: hold the key back until then.
        now = time.monotonic()
        self.ready_at[key] = max(self.ready_at.get(key, 0.0), now + attempt.retry_after)
        if now + attempt.retry_after <= self.deadline:
            self.queues.setdefault(key, deque()).appendleft(connection)
            self.queues.move_to_end(key, last=False)
            return
        reason = deferred_reason(attempt.retry_after)
        self.finish(connection, _result(connection, attempt.outcome, reason=reason))
        for waiting in self.queues.pop(key, ()):
            self.finish(waiting, _result(waiting, reason=reason))

    def next_wake(self) -> float:
        """Seconds until a key that may start another check has budget again (at most _POLL)."""
        now = time.monotonic()
        waits = [
            max(0.0, self.ready_at.get(key, 0.0) - now)
            for key in self.queues
            if self.per_key[key] < MAX_IN_FLIGHT_PER_KEY
        ]
        return min([_POLL, *waits])


def _check(connection: Connection, key: str, *, source: str, actor: User | None) -> _Attempt:
    """Take a permit on ``key`` and test one connection; or say how long to wait for one."""
    permit = budget_acquire(key)
    if isinstance(permit, Deferred):
        return _Attempt(outcome=None, retry_after=permit.retry_after)
    with budget_scope(permit=permit) as scope:
        outcome = connection_check(connection=connection, actor=actor, source=source)
    return _Attempt(outcome=outcome, retry_after=scope.retry_after)


def _check_in_thread(
    connection: Connection, key: str, *, source: str, actor: User | None
) -> _Attempt:
    try:
        return _check(connection, key, source=source, actor=actor)
    finally:
        # Pool threads outlive the run; a connection left open would linger in the database.
        db_connections.close_all()


def connections_check(
    selection: QuerySet[Connection] | Iterable[int],
    *,
    concurrency: int,
    source: Source | str,
    actor: User | None = None,
    progress: Callable[[CheckedConnection], None] | None = None,
    patience: float = 0.0,
    time_limit: float | None = None,
) -> CheckReport:
    """Test connections concurrently within their companies' rate budgets.

    ``patience`` is how many seconds the run may wait for a budget to have room; what still does
    not fit is reported as deferred (not checked), never as failed. ``time_limit`` (a request)
    starts no check after that many seconds: the rest is reported as not checked.
    """
    started = time.monotonic()
    loaded = _load(selection)
    run = _Run(
        loaded,
        concurrency=max(1, concurrency),
        patience=patience,
        progress=progress,
        time_limit=time_limit,
    )
    source = str(source)
    if concurrency <= 1 or db_connections["default"].in_atomic_block:
        # One at a time in the caller's thread; inside a transaction this is the only way, as
        # pool threads could not see its uncommitted rows.
        def submit_inline(connection: Connection, key: str) -> Future[_Attempt]:
            future: Future[_Attempt] = Future()
            try:
                future.set_result(_check(connection, key, source=source, actor=actor))
            except Exception as exc:
                future.set_exception(exc)
            return future

        while run.queues:
            if run.dispatch(submit_inline) == 0 and run.queues:
                time.sleep(run.next_wake())
            for future in list(run.running):
                run.collect(future)
    else:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="check") as pool:

            def submit(connection: Connection, key: str) -> Future[_Attempt]:
                return pool.submit(_check_in_thread, connection, key, source=source, actor=actor)

            while run.queues or run.running:
                if run.dispatch(submit) and len(run.running) < concurrency:
                    continue
                if not run.running:
                    time.sleep(run.next_wake())
                    continue
                timeout = None if len(run.running) >= concurrency else run.next_wake()
                done, _ = wait(list(run.running), timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    run.collect(future)
    report = CheckReport(elapsed=time.monotonic() - started)
    report.results = [run.results[c.pk] for c in loaded if c.pk in run.results]
    return report
