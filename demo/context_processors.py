from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def demo(request: HttpRequest) -> dict[str, Any]:
    """``demo`` is true on every page while demo mode is on: base templates show the banner."""
    return {"demo": True} if getattr(settings, "FRONTCONNECT_DEMO", False) else {}
