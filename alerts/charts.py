"""A small line chart drawn as inline SVG on the server: no script, no CDN, no library."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from alerts.dashboard import DayCounts
from connections.models import Status

# The same colours as the status badges (static/frontconnect/style.css).
STATUS_COLOURS = {
    Status.ONLINE.value: "#1a7f37",
    Status.OFFLINE.value: "#b42318",
    Status.REAUTHORIZE.value: "#b54708",
    Status.NOT_AUTHORIZED.value: "#475467",
    Status.UNCHECKED.value: "#1d4ed8",
}
WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 12, 28


def _nice_max(value: int) -> int:
    for step in (4, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000):
        if value <= step:
            return step
    return value


def status_chart_svg(history: Sequence[DayCounts]) -> SafeString:
    """Lines of each status's daily count; every text in it is escaped."""
    if not history:
        return format_html("")
    top = _nice_max(max(max(day.counts.values(), default=0) for day in history))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(history) - 1)

    def x(i: int) -> float:
        return LEFT + i * step

    def y(n: int) -> float:
        return TOP + plot_h - plot_h * n / top

    grid = format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#d0d5dd" stroke-width="1"/>'
        '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#475467">{}</text>',
        (
            (LEFT, f"{y(n):.1f}", WIDTH - RIGHT, f"{y(n):.1f}", LEFT - 6, f"{y(n) + 4:.1f}", n)
            for n in (0, top // 2, top)
        ),
    )
    ticks = [0, len(history) // 2, len(history) - 1]
    dates = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="{}" font-size="11" fill="#475467">{}</text>',
        (
            # The month's short name in the reader's language ("Jan 05", "jan 05").
            (f"{x(i):.1f}", HEIGHT - 8, anchor, date_format(history[i].day, "M d"))
            for i, anchor in zip(ticks, ("start", "middle", "end"), strict=True)
        ),
    )
    lines = format_html_join(
        "",
        '<polyline class="fc-line-{}" fill="none" stroke="{}" stroke-width="2" points="{}">'
        "<title>{}</title></polyline>",
        (
            (
                status.value,
                STATUS_COLOURS[status.value],
                " ".join(
                    f"{x(i):.1f},{y(day.counts.get(status.value, 0)):.1f}"
                    for i, day in enumerate(history)
                ),
                status.label,
            )
            for status in Status
        ),
    )
    first, last = history[0].day, history[-1].day
    return format_html(
        '<svg class="fc-chart" role="img" viewBox="0 0 {} {}" width="100%" '
        'preserveAspectRatio="xMidYMid meet" aria-labelledby="fc-chart-title">'
        '<title id="fc-chart-title">{}</title>{}{}{}</svg>',
        WIDTH,
        HEIGHT,
        _("Connections by status, %(first)s to %(last)s")
        % {"first": first.isoformat(), "last": last.isoformat()},
        grid,
        dates,
        lines,
    )
