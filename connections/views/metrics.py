"""/metrics: Prometheus' text format, for a scraper holding FRONTCONNECT_METRICS_TOKEN.

Counters come from every process of this host (``common.metrics``); the gauges are read from the
database at each scrape: connections by status, and the age of the worker's last heartbeat (the
same row /healthz judges). Without the token, or with another one, the answer is 404, as if
/metrics did not exist: a scanner learns nothing, and a scraper's target shows the 404 (README).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common import metrics as counters
from connections.models import Connection, Status
from connections.upkeep import heartbeat_age


class DatabaseGauges(Collector):
    """States, not events: read from the database when scraped."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = dict(
            Connection.objects.order_by().values_list("status").annotate(count=Count("pk"))
        )
        connections = GaugeMetricFamily(
            "frontconnect_connections", "Connections by status.", labels=["status"]
        )
        for status in Status:
            connections.add_metric([status.value], counts.get(status.value, 0))
        yield connections
        age = heartbeat_age()
        heartbeat = GaugeMetricFamily(
            "frontconnect_worker_heartbeat_age_seconds",
            "Seconds since a worker last ran its heartbeat task (+Inf: never).",
        )
        heartbeat.add_metric([], age.total_seconds() if age is not None else float("inf"))
        yield heartbeat


def _token_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    # Compared in constant time, so the answer's timing tells nothing about the token.
    same = hmac.compare_digest(given.strip().encode(), token.encode())
    return scheme.lower() == "bearer" and same


@login_not_required
@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Every counter and gauge, for ``Authorization: Bearer <FRONTCONNECT_METRICS_TOKEN>``."""
    token = settings.FRONTCONNECT_METRICS_TOKEN
    if not token or not _token_matches(request, token):
        raise Http404("No metrics here.")
    body = counters.metrics_text(collectors=[DatabaseGauges()])
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
