"""The language switcher's tags (templates/_language_switch.html)."""

from __future__ import annotations

from typing import Any

from django import template

from common.oauth import CALLBACK_PATH

register = template.Library()


@register.simple_tag(takes_context=True)
def language_next(context: dict[str, Any]) -> str:
    """Where the switcher goes back to: this page, with its query string, except on the OAuth
    callback, whose query holds Front's one-time code and state (never echoed into a page)."""
    request = context.get("request")
    if request is None:
        return ""
    if request.path_info.lstrip("/") == CALLBACK_PATH:
        return str(request.path)
    return str(request.get_full_path())
