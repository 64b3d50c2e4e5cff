"""Template context every page needs."""

from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest

from common.oauth import base_origin, origin_differs, site_origin


def base_url_warning(request: HttpRequest) -> dict[str, object]:
    """Warn when the page's host is not FRONTCONNECT_BASE_URL's: authorizing would fail there."""
    try:
        here = site_origin(request.build_absolute_uri("/"))
    except DisallowedHost:  # the page that answers a bad Host header needs no warning
        return {}
    if not origin_differs(here):
        return {}
    return {"base_url_warning": {"here": here, "base": base_origin()}}
