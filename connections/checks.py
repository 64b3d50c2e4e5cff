"""System checks for settings that only matter in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError


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


@register(Tags.database)
def encryption_key_matches(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list:
    """Stop `migrate` and `check --database` when the key cannot read the stored secrets."""
    if not databases:
        return []
    from connections.keys import encryption_key_check

    try:
        problem = encryption_key_check()
    except DatabaseError:
        return []  # not migrated yet: nothing is stored, so nothing can mismatch
    if problem is None:
        return []
    return [Error(str(problem), id="frontconnect.E001")]


@register(Tags.security, deploy=True)
def front_urls_are_https(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Front's URLs carry client secrets, codes and tokens: https only outside development."""
    names = ("FRONT_OAUTH_TOKEN_URL", "FRONT_OAUTH_AUTHORIZE_URL", "FRONT_API_URL")
    return [
        Error(
            f"{name} is not an https URL, so secrets would cross the network in plain text.",
            hint=f"Set {name} to Front's https URL (plain http is only for a local test stand-in).",
            id="frontconnect.E010",
        )
        for name in names
        if not str(getattr(settings, name)).startswith("https://")
    ]
