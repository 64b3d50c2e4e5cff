"""System checks for settings that only matter in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def base_url_is_https(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """The OAuth redirect URL must be https outside development (RFC 9700 section 4.1)."""
    if settings.FRONTCONNECT_BASE_URL.startswith("https://"):
        return []
    return [
        Warning(
            "FRONTCONNECT_BASE_URL is not an https URL, so Front would send authorization "
            "codes over plain http.",
            hint="Set FRONTCONNECT_BASE_URL to the public https URL of this installation.",
            id="frontconnect.W001",
        )
    ]
