"""Template filters for how a connection's state reads: ``connections.wording``."""

from __future__ import annotations

from django import template

from connections import wording
from connections.models import Connection

register = template.Library()


@register.filter
def check_note(connection: Connection) -> wording.Said:
    """The last check's sentence without the status the badge beside it names."""
    return wording.check_note(connection)
