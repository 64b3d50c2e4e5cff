"""The demo may never serve anyone but this machine's user, and always says it is on."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.translation import gettext as _

from connections.front.transport import is_loopback_url

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def demo_refusals() -> list[str]:
    """Why demo mode may not run with these settings (empty: it may)."""
    refusals = []
    if not settings.DEBUG:
        refusals.append(_("DEBUG is off, as in production"))
    hosts = [host for host in settings.ALLOWED_HOSTS if host not in LOOPBACK_HOSTS]
    if hosts:
        refusals.append(
            _("ALLOWED_HOSTS names other hosts than this machine (%(hosts)s)")
            % {"hosts": ", ".join(hosts)}
        )
    fronts = {
        "FRONT_API_URL": settings.FRONT_API_URL,
        "FRONT_OAUTH_AUTHORIZE_URL": settings.FRONT_OAUTH_AUTHORIZE_URL,
        "FRONT_OAUTH_TOKEN_URL": settings.FRONT_OAUTH_TOKEN_URL,
        "FRONTCONNECT_BASE_URL": settings.FRONTCONNECT_BASE_URL,
    }
    for name, url in fronts.items():
        if not is_loopback_url(url):
            refusals.append(
                _("%(setting)s is not on this machine (%(url)s)") % {"setting": name, "url": url}
            )
    return refusals


@register(Tags.security)
def demo_only_on_this_machine(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Demo mode (``frontconnect.demo_settings``) stops checked commands unless it is local."""
    if not getattr(settings, "FRONTCONNECT_DEMO", False):
        return []
    refusals = demo_refusals()
    if refusals:
        return [
            Error(
                _(
                    "Demo mode is on (DJANGO_SETTINGS_MODULE=frontconnect.demo_settings) but "
                    "%(refusals)s."
                )
                % {"refusals": "; ".join(refusals)},
                hint=_(
                    "The demo serves only 127.0.0.1 with DEBUG on (make demo). In production "
                    "use DJANGO_SETTINGS_MODULE=frontconnect.settings."
                ),
                id="demo.E001",
            )
        ]
    return [
        Warning(
            _("Demo mode: Front is the local stand-in, not the real Front."),
            hint=_("For real connections run `make run` (frontconnect.settings)."),
            id="demo.W001",
        )
    ]
