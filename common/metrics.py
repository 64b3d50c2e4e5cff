"""FrontConnect's counters and histograms for Prometheus, and the text /metrics answers with.

Events are counted where they happen, in the process they happen in: a web server worker (the
proxy, the Test button) or a Celery process (periodic checks, refreshes, emails, webhooks). With
``FRONTCONNECT_METRICS_DIR`` set (the default), prometheus-client's multiprocess mode keeps each
process's counts in a file of that folder and ``metrics_text`` adds up every file, so the sum is
right under several gunicorn workers and Celery processes, and a restarted process's counts are
kept. Counters are not read from the history (``Event``) because periodic checks that change
nothing leave no entry, and pruning old history would make a counter go down.

What is a state rather than an event (connections by status, the worker's heartbeat age) is read
from the database at scrape time by the caller's collector, so every host reports the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.conf import settings
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.registry import Collector

# Each metric is registered in the registry of a scrape (``metrics_text``), not in
# prometheus-client's global one, so that nothing is reported twice in multiprocess mode.
CHECKS = Counter(
    "frontconnect_checks_total",
    "Connection checks (GET /me) by result: online, refused, or unchecked (Front not asked or "
    "no usable answer).",
    ["result"],
    registry=None,
)
REFRESHES = Counter(
    "frontconnect_refreshes_total",
    "OAuth token refreshes tried, by result: renewed, not_stored (the connection changed "
    "meanwhile), refused (Front refused the grant or the client) or unavailable (no answer, an "
    "outage, or a rate limit, Front's or the company's budget).",
    ["result"],
    registry=None,
)
FRONT_REQUESTS = Counter(
    "frontconnect_front_requests_total",
    "Requests sent to Front by kind (me, api, code, refresh, proxy) and HTTP status, or timeout or "
    "unreachable when Front gave no answer.",
    ["kind", "code"],
    registry=None,
)
FRONT_LATENCY = Histogram(
    "frontconnect_front_request_duration_seconds",
    "Time Front took to answer, by kind (for the proxy: until the answer's headers).",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0),
    registry=None,
)
PROXY_REQUESTS = Counter(
    "frontconnect_proxy_requests_total",
    "Calls to the service API's Front proxy by the HTTP status FrontConnect answered.",
    ["code"],
    registry=None,
)
BUDGET_WAITS = Counter(
    "frontconnect_budget_waits_total",
    "Calls to Front that found no room in the company's rate budget at once, by outcome: "
    "granted after waiting, or deferred (told to retry later).",
    ["outcome"],
    registry=None,
)
FRONT_429 = Counter(
    "frontconnect_front_429_total",
    "HTTP 429 answers from Front, by what Front limited: the company, or one route.",
    ["limit"],
    registry=None,
)
DELIVERIES = Counter(
    "frontconnect_deliveries_total",
    "Alert emails and webhook calls by channel (email, webhook) and result (sent, failed, "
    "skipped).",
    ["channel", "result"],
    registry=None,
)
ALL = (
    CHECKS,
    REFRESHES,
    FRONT_REQUESTS,
    FRONT_LATENCY,
    PROXY_REQUESTS,
    BUDGET_WAITS,
    FRONT_429,
    DELIVERIES,
)


def metrics_dir() -> str:
    """The folder the processes of this host count in; empty when each counts alone."""
    return str(settings.FRONTCONNECT_METRICS_DIR or "")


def counting_mode_ensure() -> None:
    """Count in the settings' folder even if prometheus-client was imported before the settings
    named it: the library picks its mode when imported, and nothing has counted yet."""
    if metrics_dir() and values.ValueClass is values.MutexValue:
        values.ValueClass = values.get_value_class()


def front_request(kind: str, code: int | str, seconds: float) -> None:
    """One request to Front, answered with ``code`` (or timeout, unreachable) in ``seconds``."""
    FRONT_REQUESTS.labels(kind, str(code)).inc()
    FRONT_LATENCY.labels(kind).observe(seconds)


def proxy_counted(view: Callable[..., Any]) -> Callable[..., Any]:
    """The proxy's view, counting each answer by status (an uncaught error counts as 500)."""

    @wraps(view)
    def counted(request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            response = view(request, *args, **kwargs)
        except BaseException:
            PROXY_REQUESTS.labels("500").inc()
            raise
        PROXY_REQUESTS.labels(str(response.status_code)).inc()
        return response

    return counted


def metrics_text(*, collectors: Iterable[Collector] = ()) -> bytes:
    """Every process's counts (or this process's alone) and ``collectors``, in text format."""
    registry = CollectorRegistry()
    folder = metrics_dir()
    if folder:
        multiprocess.MultiProcessCollector(registry, path=folder)
    else:
        for metric in ALL:
            registry.register(metric)
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)


def process_ended(pid: int) -> None:
    """A process of this host ended: drop its live gauge files (its counters are kept)."""
    folder = metrics_dir()
    if folder and os.path.isdir(folder):
        multiprocess.mark_process_dead(pid, folder)
