"""Each person's reading preferences: the language and time zone of their pages and emails."""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

DEFAULT_TIME_ZONE = "UTC"
# Known to zoneinfo but not IANA names a person would pick: the machine's own zone and tzdata's
# placeholder.
NOT_ZONES = frozenset({"localtime", "Factory"})


@functools.cache
def time_zone_names() -> frozenset[str]:
    """The IANA time zone names this server knows (zoneinfo, tzdata)."""
    return frozenset(zoneinfo.available_timezones() - NOT_ZONES)


def time_zone_validate(value: str) -> None:
    """Refuse anything but a known IANA time zone name."""
    if value not in time_zone_names():
        raise ValidationError(
            _("“%(value)s” is not a time zone name; choose one in the list, such as Europe/Paris."),
            code="invalid_time_zone",
            params={"value": value},
        )


def language_choices() -> list[tuple[str, Any]]:
    """The languages offered, each in its own name, after "the browser's language"."""
    return [("", _("The browser's language")), *settings.LANGUAGES]


class Preferences(models.Model):
    """One person's language and time zone; people without a row read in the browser's language
    (else LANGUAGE_CODE) and in UTC."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=language_choices,
        help_text=_(
            "The language of your pages and of the emails FrontConnect sends you. With the "
            "browser's language, pages follow your browser's settings and emails are in this "
            "server's default language."
        ),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default=DEFAULT_TIME_ZONE,
        validators=[time_zone_validate],
        help_text=_("Times on your pages and in your emails are shown in this time zone."),
    )

    class Meta:
        verbose_name = _("preferences")
        verbose_name_plural = _("preferences")

    def __str__(self) -> str:
        return gettext("Preferences of %(user)s") % {"user": self.user}
