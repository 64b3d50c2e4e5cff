"""The OAuth 2.0 redirect URL, shared by the client admin (which shows it) and the flow."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

# SPEC fixes this path: operators register FRONTCONNECT_BASE_URL + this path in each Front app.
CALLBACK_PATH = "oauth/callback/"


def oauth_redirect_uri() -> str:
    """The one redirect URL of this installation, built from settings, never from the request."""
    return f"{settings.FRONTCONNECT_BASE_URL}/{CALLBACK_PATH}"


def site_origin(url: str) -> str:
    """The scheme and host of a URL, lowercased: ``http://localhost:8000``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def base_origin() -> str:
    """Where Front sends people back: FRONTCONNECT_BASE_URL's scheme and host."""
    return site_origin(settings.FRONTCONNECT_BASE_URL)


def origin_differs(origin: str) -> bool:
    """Whether a page opened at ``origin`` is on another host than FRONTCONNECT_BASE_URL.

    Browsers keep cookies per host, so a sign-in on ``localhost`` is unknown on ``127.0.0.1``:
    the OAuth 2.0 return would find no session. Only the host is compared (a proxy that ends TLS
    may show the page as http).
    """
    return bool(origin) and urlsplit(origin).netloc.lower() != urlsplit(base_origin()).netloc
