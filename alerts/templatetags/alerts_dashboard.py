from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

from alerts.charts import STATUS_COLOURS, status_chart_svg
from alerts.dashboard import CHART_DAYS, background_states, dashboard_build
from connections import access
from connections.models import Status

register = template.Library()

# The names /healthz gives its checks, as the dashboard reads them.
BACKGROUND_LABELS = {
    "worker": _("Worker"),
    "scheduler": _("Scheduler"),
    "broker": _("Broker"),
}


@register.inclusion_tag("alerts/dashboard.html", takes_context=True)
def operator_dashboard(context: template.Context) -> dict[str, Any]:
    """The dashboard for operators who may view connections; nothing for anyone else."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if not access.user_is_operator(user):
        return {"dashboard": None}
    dashboard = dashboard_build()
    return {
        "dashboard": dashboard,
        "background": [
            (name, BACKGROUND_LABELS.get(name, name.capitalize()), state)
            for name, state in background_states()
        ],
        "chart": status_chart_svg(dashboard.history),
        "chart_days": CHART_DAYS,
        "legend": [(status.label, STATUS_COLOURS[status.value]) for status in Status],
    }
