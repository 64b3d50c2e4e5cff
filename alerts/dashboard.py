"""The operator's dashboard on the admin index: read-only selectors."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import OUTAGE_STATUSES
from common.dates import moment_text
from common.wording import Said
from connections.models import Connection, Removal, Status, Transition
from connections.upkeep import LAPSE_WARNING, grant_lapses_at, grants_lapsing_by
from connections.views.health import CHECKS

# What the dashboard reports about the background machinery, by /healthz's own checks.
BACKGROUND_CHECKS = ("worker", "scheduler", "broker")

ATTENTION_LIMIT = 20
RECENT_LIMIT = 20
CHART_DAYS = 30
# From this many connections that cannot reach Front, the dashboard says Front looks down: one
# connection may be its own network's problem; several at once are Front's or ours.
UNREACHABLE_MANY = 3


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int
    url: str


@dataclass(frozen=True)
class AttentionItem:
    connection: Connection
    reasons: list[str]
    url: str


@dataclass(frozen=True)
class DayCounts:
    day: date
    counts: dict[str, int]


@dataclass(frozen=True)
class Unreachable:
    """Connections whose latest checks could not reach Front, and since when the oldest."""

    count: int
    since: datetime | None

    @property
    def many(self) -> bool:
        return self.count >= UNREACHABLE_MANY


@dataclass
class Dashboard:
    counts: list[StatusCount]
    total: int
    attention: list[AttentionItem]
    attention_more: bool
    transitions: list[Transition]
    history: list[DayCounts] = field(default_factory=list)
    unreachable: Unreachable = Unreachable(0, None)


def _changelist_url() -> str:
    return reverse("admin:connections_connection_changelist")


def _change_url(connection_id: int) -> str:
    return reverse("admin:connections_connection_change", args=[connection_id])


def status_counts() -> dict[str, int]:
    """How many connections are in each status now (every status present, zeros included)."""
    return counts_and_unreachable()[0]


def counts_and_unreachable() -> tuple[dict[str, int], Unreachable]:
    """The status counts and the connections Front has been unreachable for, in one query."""
    counts = {status.value: 0 for status in Status}
    rows = (
        Connection.objects.order_by()
        .values_list("status")
        .annotate(
            n=Count("pk"),
            unreachable=Count("pk", filter=Q(unreachable_since__isnull=False)),
            since=Min("unreachable_since"),
        )
    )
    unreachable, since = 0, None
    for status, n, silent, first in rows:
        counts[status] = n
        unreachable += silent
        if first is not None and (since is None or first < since):
            since = first
    return counts, Unreachable(unreachable, since)


def attention_list(*, now: datetime, limit: int = ATTENTION_LIMIT) -> list[AttentionItem]:
    """Connections needing attention, worst first: broken, grant expiring, not checked lately."""
    stale_before = now - timedelta(hours=2 * settings.FRONTCONNECT_CHECK_INTERVAL_HOURS)
    # Listed from when the owner is warned (SPEC: refresh policy).
    lapse_by = now + LAPSE_WARNING
    broken = Q(status__in=OUTAGE_STATUSES)
    expiring = Q(status=Status.ONLINE) & grants_lapsing_by(lapse_by)
    stale = Q(status=Status.ONLINE) & (
        Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=stale_before)
    )
    rows = (
        Connection.objects.filter(broken | expiring | stale)
        .annotate(
            rank=Case(
                When(status=Status.OFFLINE, then=Value(0)),
                When(status=Status.REAUTHORIZE, then=Value(1)),
                When(expiring, then=Value(2)),
                default=Value(3),
                output_field=IntegerField(),
            )
        )
        .select_related("owner")
        .only(
            "name",
            "status",
            "auth_type",
            "authorized_at",
            "refresh_token_obtained_at",
            "refresh_token_digest",
            "last_checked_at",
            "last_check_result",
            "owner__username",
        )
        .order_by("rank", F("last_checked_at").asc(nulls_first=True), "name", "pk")[: limit + 1]
    )
    items = []
    for connection in rows:
        reasons = []
        if connection.status in OUTAGE_STATUSES:
            reasons.append(connection.get_status_display())
        lapses = grant_lapses_at(connection)
        if connection.status == Status.ONLINE and lapses is not None and lapses <= lapse_by:
            reasons.append(
                _("Authorization lapses around %(date)s: authorize it again")
                % {"date": f"{lapses:%Y-%m-%d}"}
            )
        if connection.status == Status.ONLINE and (
            connection.last_checked_at is None or connection.last_checked_at < stale_before
        ):
            reasons.append(
                _("Never checked")
                if connection.last_checked_at is None
                else _("Not checked since %(when)s")
                % {"when": moment_text(connection.last_checked_at)}
            )
        items.append(AttentionItem(connection, reasons, _change_url(connection.pk)))
    return items


def transitions_recent(*, limit: int = RECENT_LIMIT) -> list[Transition]:
    """The latest status changes, newest first, with who made them."""
    return list(Transition.objects.select_related("actor").order_by("-created_at", "-pk")[:limit])


def status_history(
    *, counts: dict[str, int], now: datetime, days: int = CHART_DAYS
) -> list[DayCounts]:
    """Status counts at the end of each of the last ``days`` days, oldest first, exactly.

    Walks back from today's counts, undoing each day in turn: its transitions (one fewer in the
    new status, one more in the old, deleted connections' included), its creations (a
    connection created that day did not exist the day before) and its deletions (a connection
    deleted that day was still there, in its last status). Four queries.
    """
    today = timezone.localdate(now)
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first + timedelta(days=1), datetime.min.time()))
    undo: dict[date, Counter[str]] = defaultdict(Counter)
    moves = (
        Transition.objects.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values_list("day", "old_status", "new_status")
        .annotate(n=Count("pk"))
    )
    for day, old, new, n in moves:
        undo[day][new] -= n
        undo[day][old] += n
    # The status a connection had once created: the old side of its first transition.
    first_old = (
        Transition.objects.filter(connection=OuterRef("pk"))
        .order_by("created_at", "pk")
        .values("old_status")[:1]
    )
    created = (
        Connection.objects.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"), initial=Coalesce(Subquery(first_old), "status"))
        .order_by()
        .values_list("day", "initial")
        .annotate(n=Count("pk"))
    )
    for day, initial, n in created:
        undo[day][initial] -= n
    removed = (
        Removal.objects.filter(Q(deleted_at__gte=start) | Q(created_at__gte=start))
        .annotate(created=TruncDate("created_at"), deleted=TruncDate("deleted_at"))
        .order_by()
        .values_list("created", "first_status", "deleted", "last_status")
    )
    for created_day, first_status, deleted_day, last_status in removed:
        undo[deleted_day][last_status] += 1
        undo[created_day][first_status] -= 1
    history = [DayCounts(today, dict(counts))]
    running = Counter(counts)
    for offset in range(1, days):
        later = today - timedelta(days=offset - 1)
        running.update(undo.get(later, Counter()))
        history.append(
            DayCounts(later - timedelta(days=1), {status: running[status] for status in counts})
        )
    history.reverse()
    return history


def background_states() -> list[tuple[str, str | Said]]:
    """The worker's heartbeat, the scheduler lock and the broker, as /healthz reports them."""
    return [(name, CHECKS[name]()) for name in BACKGROUND_CHECKS]


def dashboard_build(*, now: datetime | None = None) -> Dashboard:
    """Everything the admin index shows about connections."""
    now = now or timezone.now()
    counts, unreachable = counts_and_unreachable()
    base = _changelist_url()
    attention = attention_list(now=now)
    return Dashboard(
        counts=[
            StatusCount(
                status.value,
                str(status.label),
                counts[status.value],
                f"{base}?status__exact={status.value}",
            )
            for status in Status
        ],
        total=sum(counts.values()),
        attention=attention[:ATTENTION_LIMIT],
        attention_more=len(attention) > ATTENTION_LIMIT,
        transitions=transitions_recent(),
        history=status_history(counts=counts, now=now),
        unreachable=unreachable,
    )
