"""The client's address when FrontConnect runs behind trusted reverse proxies."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def forwarded_client_ip(request: HttpRequest) -> str | None:
    """The address the outermost trusted proxy saw, from X-Forwarded-For.

    Each proxy appends the address that connected to it, so with PROXY_HOPS proxies the
    client's address is that many entries from the right; entries further left came from the
    client and could say anything. Without a usable entry, the direct peer's address.
    """
    peer = request.META.get("REMOTE_ADDR")
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    entries = [entry.strip() for entry in header.split(",") if entry.strip()]
    if not entries:
        return peer
    hops = settings.PROXY_HOPS
    # Fewer entries than hops: the request skipped outer proxies, and the first entry is the
    # one the first proxy it met wrote.
    candidate = entries[-hops] if len(entries) >= hops else entries[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, as sign-in throttling counts it.

    Behind trusted proxies (``DJANGO_BEHIND_PROXY``) the entry they appended to
    X-Forwarded-For, else the direct peer: never an address a client can choose.
    """
    if settings.BEHIND_PROXY:
        return forwarded_client_ip(request)
    return request.META.get("REMOTE_ADDR") or None
