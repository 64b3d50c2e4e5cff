"""The OAuth 2.0 redirect URL, shared by the client admin (which shows it) and the flow."""

from __future__ import annotations

from django.conf import settings

# SPEC fixes this path: operators register FRONTCONNECT_BASE_URL + this path in each Front app.
CALLBACK_PATH = "oauth/callback/"


def oauth_redirect_uri() -> str:
    """The one redirect URL of this installation, built from settings, never from the request."""
    return f"{settings.FRONTCONNECT_BASE_URL}/{CALLBACK_PATH}"
