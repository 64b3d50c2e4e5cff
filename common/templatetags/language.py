"""The language switcher's tags (templates/_language_switch.html)."""

from __future__ import annotations

from typing import Any

from django import template

from common.oauth import CALLBACK_PATH

register = template.Library()

# URL parts that are credentials (an authorization link's secret, a password reset token):
# a page at such an address never writes it into itself.
SECRET_URL_KWARGS = frozenset({"secret", "token", "uidb64"})


@register.simple_tag(takes_context=True)
def language_next(context: dict[str, Any]) -> str:
    """Where the switcher goes back to: this page, with its query string.

    Empty on a page whose address holds a secret (static/frontconnect/language.js fills it in
    the browser); the path alone on the OAuth callback, whose query holds Front's one-time
    code and state.
    """
    request = context.get("request")
    if request is None:
        return ""
    match = getattr(request, "resolver_match", None)
    if match is not None and SECRET_URL_KWARGS & set(match.kwargs):
        return ""
    if request.path_info.lstrip("/") == CALLBACK_PATH:
        return str(request.path)
    return str(request.get_full_path())
