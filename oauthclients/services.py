"""Flows around OAuth 2.0 clients."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse


def oauth_redirect_uri() -> str:
    """The one redirect URL of this installation, built from settings, never from the request."""
    return settings.FRONTCONNECT_BASE_URL + reverse("oauth:callback")
