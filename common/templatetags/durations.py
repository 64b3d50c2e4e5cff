"""Durations in words, for templates that are given a timedelta."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timeuntil

register = template.Library()


@register.filter
def duration_words(value: timedelta | None) -> str:
    """A timedelta as Django's timeuntil words: "15 minutes", "2 hours", "1 day, 2 hours"."""
    if not isinstance(value, timedelta):
        return ""
    now = timezone.now()
    # timeuntil joins number and unit with a no-break space; the page's text uses plain ones.
    return timeuntil(now + value, now).replace("\xa0", " ")
