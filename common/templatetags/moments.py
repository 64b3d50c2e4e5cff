"""``{{ value|moment }}``: a time in the reader's time zone, named (``common.dates``)."""

from __future__ import annotations

from datetime import datetime

from django import template

from common.dates import moment_text

register = template.Library()


@register.filter
def moment(value: datetime | None) -> str:
    return moment_text(value) if value else ""
