from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def demo(request: HttpRequest) -> dict[str, bool]:
    """``demo_mode`` on every page: the base templates show the demo banner while it is true.

    Always set (False outside demo mode): a variable missing from the context would be logged at
    DEBUG by the template engine on every page, with whatever exception was being handled.
    """
    return {"demo_mode": bool(getattr(settings, "FRONTCONNECT_DEMO", False))}
