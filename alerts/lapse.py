"""Warn before a grant lapses: the owner hears 14 days ahead, once per grant (SPEC: refresh policy).

A grant is named by its connection and the moment it lapses (``connections.upkeep``). Its warning
rows (``LapseWarning``, one per recipient) are created insert-or-skip the first time the grant is
found within the warning window, and sent through ``services.notices_send`` like every alert, so
a second run, or a second worker, sends nothing. A new refresh token or a new authorization moves
the lapse, which makes a new grant with warnings of its own.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import LapseWarning, NoticeState
from alerts.services import (
    Alert,
    connection_recipients,
    fix_url,
    fixes_in_admin,
    notices_send,
    one_line,
)
from alerts.wording import NOTHING, Said, said
from common.dates import moment_text
from connections import access
from connections.links import connection_may_get_link
from connections.models import Connection, Status
from connections.upkeep import LAPSE_WARNING, grant_lapses_at, grants_lapsing_by

# Front refused these grants already: the owner was told by the status change's own alert.
SETTLED_STATUSES = (Status.REAUTHORIZE, Status.NOT_AUTHORIZED)


def grants_lapsing_soon(*, now: datetime) -> dict[int, tuple[Connection, datetime]]:
    """The connections whose grant lapses within the warning window, with when, by id."""
    rows = (
        Connection.objects.filter(grants_lapsing_by(now + LAPSE_WARNING))
        .exclude(status__in=SETTLED_STATUSES)
        .select_related("owner")
        .order_by("pk")
    )
    due = {}
    for connection in rows.iterator(chunk_size=2000):
        lapses = grant_lapses_at(connection)
        # A grant that has lapsed already is past warning: its next refresh or check says so.
        if lapses is not None and lapses > now:
            due[connection.pk] = (connection, lapses)
    return due


def lapse_skip_reason(warning: LapseWarning, *, now: datetime) -> Said:
    """Why this warning should not be sent any more (empty when it should)."""
    connection = warning.connection
    if warning.lapses_at <= now:
        return said("lapse.lapsed")
    if connection.status in SETTLED_STATUSES:
        return said("lapse.settled")
    if grant_lapses_at(connection) != warning.lapses_at:
        return said("lapse.renewed")
    return NOTHING


def link_page_url(connection: Connection, user: User) -> str:
    """Where ``user`` sends a reauthorization link for it, when they may ("" otherwise).

    The email carries the page that makes one, not a link itself: a single-use link lives at
    most FRONTCONNECT_AUTHORIZATION_LINK_HOURS, far less than the 14 days of the warning.
    """
    if not connection_may_get_link(connection) or not access.user_may_change(user, connection):
        return ""
    return fix_url(connection, user) + "#authorization-links"


def lapse_alert(warning: LapseWarning) -> Alert:
    """The warning email: name, when the authorization lapses, and where to renew it; no secret.

    Subject and body are in the language in force (the caller picks the recipient's).
    """
    connection = warning.connection
    name = one_line(connection.name)
    body = render_to_string(
        "alerts/email/lapse.txt",
        {
            "name": name,
            "lapses_at": moment_text(warning.lapses_at),
            "url": fix_url(connection, warning.user),
            "in_admin": fixes_in_admin(connection, warning.user),
            "link_page": link_page_url(connection, warning.user),
            "warning_days": LAPSE_WARNING.days,
        },
    )
    subject = _("FrontConnect: authorize %(name)s again before %(date)s") % {
        "name": name,
        "date": f"{timezone.localtime(warning.lapses_at):%Y-%m-%d}",
    }
    return Alert(subject=subject, body=body, to=warning.user.email)


def grants_lapse_warn(*, now: datetime | None = None) -> int:
    """Email the owner and subscribed operators of each grant lapsing within 14 days, once each.

    Raises the first delivery error after trying every warning, so the task retries the ones
    that failed; the ones already sent are never sent again.
    """
    now = now or timezone.now()
    due = grants_lapsing_soon(now=now)
    # Recipients are chosen once, when a grant's warnings are first created: someone subscribing
    # later hears about the next grant, not this one.
    warned = set(
        LapseWarning.objects.filter(lapses_at__gt=now).values_list("connection_id", "lapses_at")
    )
    LapseWarning.objects.bulk_create(
        [
            LapseWarning(connection=connection, lapses_at=lapses, user=user)
            for connection, lapses in due.values()
            if (connection.pk, lapses) not in warned
            for user in connection_recipients(connection)
        ],
        ignore_conflicts=True,
    )
    pending = LapseWarning.objects.filter(state=NoticeState.PENDING).select_related(
        "connection__owner"
    )
    return notices_send(
        pending, build=lapse_alert, skip=lambda warning: lapse_skip_reason(warning, now=now)
    )
