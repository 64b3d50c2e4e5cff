"""The demo's help page: its stand-in tokens, its steps and a proxy call to try."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from connections.access import connections_visible_to
from demo import services


@login_not_required
@require_GET
def help_page(request: HttpRequest) -> HttpResponse:
    """What to try in the demo; 404 outside demo mode (there are no such tokens then)."""
    if not getattr(settings, "FRONTCONNECT_DEMO", False):
        raise Http404("Demo mode is off.")
    connections = connections_visible_to(request.user).order_by("name")[:20]
    context = {
        "tokens": services.TOKENS,
        "refused_token": services.REFUSED_TOKEN,
        "client_name": services.CLIENT_NAME,
        "operator": services.OPERATOR,
        "key_name": services.KEY_NAME,
        "base_url": settings.FRONTCONNECT_BASE_URL,
        "front_url": settings.FRONT_API_URL,
        "connections": connections,
        "check_minutes": round(settings.FRONTCONNECT_CHECK_INTERVAL_HOURS * 60),
    }
    return render(request, "demo/help.html", context)
