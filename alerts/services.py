"""Alerts: decide who hears about a connection, and email each of them exactly once.

Every email is a notice row (``Notification`` for a transition, ``LapseWarning`` for a grant),
unique per subject and user and created insert-or-skip; ``notices_send`` claims each with a short
lease taken by a conditional UPDATE, so two workers, or a retry of a task that already sent, never
email anyone twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alerts.models import (
    OUTAGE_STATUSES,
    AlertPreference,
    Notice,
    NoticeKind,
    NoticeState,
    Notification,
    Webhook,
)
from alerts.wording import NOTHING, Said, said
from common import metrics
from common.dates import moment_text
from common.mail import Alert, alert_send, one_line
from common.preferences import reading_as
from connections import access
from connections.models import Connection, Status, Transition
from connections.services import REAUTHORIZE_INTERRUPTED
from connections.wording import status_predicate

logger = logging.getLogger(__name__)

# The sweep looks back this far, and leaves the newest transitions to the normal dispatch.
REDISPATCH_WINDOW = timedelta(hours=6)
REDISPATCH_GRACE = timedelta(minutes=1)
# Longer than one SMTP exchange (EMAIL_TIMEOUT is 10 s); a crashed worker's claim expires.
CLAIM_SECONDS = 120

N = TypeVar("N", bound=Notice)


class OutageNoticeInFlight(Exception):
    """The outage email a recovery email follows is being sent right now: try again shortly."""


def transition_alert_kind(transition: Transition) -> NoticeKind | None:
    """Outage for a change into Offline or Needs reauthorization, recovery for back to Online.

    A connection fixed with a new API token passes through Not checked yet: its way back to
    Online is a recovery when the status before Not checked yet was an outage.
    """
    if transition.new_status in OUTAGE_STATUSES:
        return NoticeKind.OUTAGE
    if transition.new_status != Status.ONLINE:
        return None
    before: str | None = transition.old_status
    if before == Status.UNCHECKED and transition.connection_id is not None:
        before = (
            Transition.objects.filter(
                connection_id=transition.connection_id,
                pk__lt=transition.pk,
                new_status=Status.UNCHECKED,
            )
            .order_by("-pk")
            .values_list("old_status", flat=True)
            .first()
        )
    return NoticeKind.RECOVERY if before in OUTAGE_STATUSES else None


def transitions_undispatched(
    *, now: datetime | None = None
) -> tuple[list[int], list[tuple[int, int]]]:
    """Recent transitions whose alerts or webhook calls never got queued: (to email, calls).

    The after-commit dispatch is lost if the broker is down at that moment; a periodic sweep
    finds transitions from the last few hours with no notice or delivery row and queues them
    (``alerts.tasks.transitions_requeue``). Tasks are idempotent, so a transition queued twice
    still sends each email once. The calls are (webhook id, transition id) pairs.
    """
    now = now or timezone.now()
    recent = Transition.objects.filter(
        created_at__gte=now - REDISPATCH_WINDOW,
        created_at__lt=now - REDISPATCH_GRACE,
        connection__isnull=False,
    ).order_by("pk")
    alerting = Q(new_status__in=OUTAGE_STATUSES) | Q(
        new_status=Status.ONLINE, old_status__in=[*OUTAGE_STATUSES, Status.UNCHECKED]
    )
    emails = [
        transition.pk
        for transition in recent.filter(alerting, notifications__isnull=True).distinct()
        # Not checked yet -> Online is a recovery only after an outage (transition_alert_kind).
        if transition_alert_kind(transition) is not None
    ]
    calls = []
    for webhook in Webhook.objects.filter(is_active=True):
        missing = recent.filter(new_status__in=webhook.statuses).exclude(
            webhook_deliveries__webhook=webhook
        )
        calls += [(webhook.pk, pk) for pk in missing.values_list("pk", flat=True)]
    return emails, calls


def transition_recipients(transition: Transition) -> list[User]:
    """Who hears about a transition: ``connection_recipients`` of its connection."""
    if transition.connection is None:
        return []
    return connection_recipients(transition.connection)


def connection_recipients(connection: Connection) -> list[User]:
    """The owner (unless they turned emails off) and every operator subscribed to all alerts.

    A team's connection goes to the team's admins and the members who opted in
    (``connections.access.team_alert_people``), each unless they turned emails off, instead
    of its creator (who hears as one of them while in the team).
    """
    recipients: dict[int, User] = {}
    if connection.team_id is not None:
        people = list(access.team_alert_people(connection.team).exclude(email=""))
    else:
        people = [connection.owner]
    muted = set(
        AlertPreference.objects.filter(
            user__in=[p.pk for p in people], email_enabled=False
        ).values_list("user_id", flat=True)
    )
    for person in people:
        if person.is_active and person.email and person.pk not in muted:
            recipients[person.pk] = person
    subscribed = (
        AlertPreference.objects.filter(
            all_connections=True, email_enabled=True, user__is_staff=True, user__is_active=True
        )
        .exclude(user__email="")
        .select_related("user")
        .order_by("user_id")
    )
    for preference in subscribed:
        recipients.setdefault(preference.user_id, preference.user)
    return list(recipients.values())


def fixes_in_admin(connection: Connection, user: User) -> bool:
    """Whether this user fixes the connection in the admin (an operator who does not own it)."""
    return user.pk != connection.owner_id and user.is_staff


def fix_url(connection: Connection, user: User) -> str:
    """Where this user fixes the connection: its page for the owner, the admin for an operator."""
    if fixes_in_admin(connection, user):
        path = reverse("admin:connections_connection_change", args=[connection.pk])
    else:
        path = reverse("connections:detail", args=[connection.pk])
    return settings.FRONTCONNECT_BASE_URL + path


# Whole subject sentences, one per status an outage email is about (not a name plus a predicate).
OUTAGE_SUBJECTS: dict[str, Promise] = {
    Status.OFFLINE: gettext_lazy("FrontConnect: %(name)s is Offline"),
    Status.REAUTHORIZE: gettext_lazy("FrontConnect: %(name)s needs reauthorization"),
}


def notice_alert(notice: Notification, transition: Transition) -> Alert:
    """The email for one notice: name, what happened in words, and where to fix it; no secret.

    Subject and body are in the language in force (the caller picks the recipient's).
    """
    connection = transition.connection
    # A connection deleted since the change: the member's list is the page that still exists.
    url = (
        fix_url(connection, notice.user)
        if connection is not None
        else settings.FRONTCONNECT_BASE_URL + reverse("connections:list")
    )
    name = one_line(transition.connection_name)
    new_label = Status(transition.new_status).label
    if notice.kind == NoticeKind.RECOVERY:
        subject = _("FrontConnect: %(name)s is back Online") % {"name": name}
    elif transition.new_status in OUTAGE_SUBJECTS:
        subject = OUTAGE_SUBJECTS[transition.new_status] % {"name": name}
    else:
        subject = _("FrontConnect: %(name)s %(predicate)s") % {
            "name": name,
            "predicate": status_predicate(transition.new_status),
        }
    body = render_to_string(
        "alerts/email/transition.txt",
        {
            "name": name,
            "kind": notice.kind,
            "old_label": Status(transition.old_status).label,
            "new_label": new_label,
            "reason": transition.reason,
            "when": moment_text(transition.created_at),
            "url": url,
            "in_admin": connection is not None and fixes_in_admin(connection, notice.user),
            # A grant lost to a refresh that died before its write-back (connections.tokens).
            "reauthorize": transition.new_status == Status.REAUTHORIZE,
            "interrupted": transition.new_status == Status.REAUTHORIZE
            and transition.reason == REAUTHORIZE_INTERRUPTED,
        },
    )
    return Alert(subject=subject, body=body, to=notice.user.email)


def _skip_reason(notice: Notification, transition: Transition) -> Said:
    """Why this notice should not be sent (empty when it should)."""
    later = Transition.objects.filter(connection=transition.connection, pk__gt=transition.pk)
    if later.exists():
        return said("notice.changed_again")
    if notice.kind != NoticeKind.RECOVERY:
        return NOTHING
    outage = (
        Transition.objects.filter(
            connection=transition.connection,
            pk__lt=transition.pk,
            new_status__in=OUTAGE_STATUSES,
        )
        .order_by("-pk")
        .first()
    )
    earlier = (
        Notification.objects.filter(transition=outage, user_id=notice.user_id).first()
        if outage is not None
        else None
    )
    if earlier is not None and earlier.state == NoticeState.SENT:
        return NOTHING
    if earlier is not None and earlier.state == NoticeState.PENDING:
        raise OutageNoticeInFlight(f"Outage notice {earlier.pk} is not settled yet.")
    return said("notice.no_outage_email")


def _claim(notice: Notice) -> bool:
    now = timezone.now()
    return bool(
        type(notice)
        ._default_manager.filter(pk=notice.pk, state=NoticeState.PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1)
    )


def transition_notify(*, transition_id: int) -> int:
    """Email everyone who should hear about a transition, each at most once; return how many.

    Raises the first delivery error after trying every recipient, so the task retries the ones
    that failed; the ones already sent are never sent again.
    """
    transition = (
        Transition.objects.select_related("connection__owner").filter(pk=transition_id).first()
    )
    if transition is None or transition.connection is None:
        return 0
    kind = transition_alert_kind(transition)
    if kind is None:
        return 0
    Notification.objects.bulk_create(
        [
            Notification(transition=transition, user=user, kind=kind)
            for user in transition_recipients(transition)
        ],
        ignore_conflicts=True,
    )
    pending = Notification.objects.filter(transition=transition, state=NoticeState.PENDING)
    return notices_send(
        pending,
        build=lambda notice: notice_alert(notice, transition),
        skip=lambda notice: _skip_reason(notice, transition),
    )


def _no_skip(notice: Notice) -> Said:
    return NOTHING


def notices_send(
    pending: QuerySet[N], *, build: Callable[[N], Alert], skip: Callable[[N], Said] = _no_skip
) -> int:
    """Send each pending notice at most once (claim, send, record); return how many were sent.

    Raises the first delivery error after trying every notice, so the task retries the ones
    that failed; the ones already sent are never sent again.
    """
    sent = 0
    failure: OSError | None = None
    manager = pending.model._default_manager
    for notice in pending.select_related("user", "user__preferences").order_by("pk"):
        reason = skip(notice)
        if reason:
            manager.filter(pk=notice.pk, state=NoticeState.PENDING).update(
                state=NoticeState.SKIPPED, note=reason
            )
            metrics.DELIVERIES.labels("email", "skipped").inc()
            continue
        if not _claim(notice):
            continue  # another worker is sending it
        try:
            # In the recipient's language and time zone (their preferences), whoever's request
            # or worker sends it.
            with reading_as(notice.user):
                alert = build(notice)
            alert_send(alert)
        except OSError as exc:  # smtplib.SMTPException is an OSError
            logger.warning(
                "Alert email %s %s failed: %s",
                type(notice).__name__,
                notice.pk,
                type(exc).__name__,
            )
            manager.filter(pk=notice.pk).update(
                claimed_until=None, error=f"{type(exc).__name__}: {exc}"[:200]
            )
            failure = failure or exc
            metrics.DELIVERIES.labels("email", "failed").inc()
            continue
        manager.filter(pk=notice.pk).update(
            state=NoticeState.SENT, sent_at=timezone.now(), claimed_until=None, error=""
        )
        sent += 1
        metrics.DELIVERIES.labels("email", "sent").inc()
    if failure is not None:
        raise failure
    return sent
