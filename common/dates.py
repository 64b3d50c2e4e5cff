"""How a moment reads on a page, in an email or in a stored sentence: one format, one place.

The reader's time zone is the one in force (``common.preferences`` activates a person's own for
each request, and for each email sent to them); the zone is always named, so "14:00 CET" is never
taken for UTC. The digits are the same in every language: "2026-01-05 14:00 CET".
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone
from django.utils.formats import date_format

FORMAT = "Y-m-d H:i T"


def moment_text(moment: datetime) -> str:
    """``moment`` in the time zone in force, with the zone's name: "2026-01-05 14:00 UTC"."""
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return date_format(timezone.localtime(moment), FORMAT)
