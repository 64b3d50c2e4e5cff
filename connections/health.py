"""Checking a connection: ask Front who the token belongs to, then record the right status.

Only Front refusing the credential (401, 403, invalid_grant) or another definite answer makes a
connection Offline or Needs reauthorization. A rate limit, an outage, a timeout or a network
error leaves the status as it was and records "Could not check: ..."; only when Front has been
unreachable for longer than ``FRONTCONNECT_UNREACHABLE_GRACE_MINUTES`` does the connection go
Offline. ``connection_check`` returns a ``CheckOutcome`` that the worker and the API act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from common import metrics
from connections import front, ratelimit
from connections.events import event_record
from connections.front import Company, FrontError, FrontErrorKind, RateLimit
from connections.models import Action, Connection, Source, Status, Transition
from connections.status import connection_status_set, verdict_superseded
from connections.tokens import connection_access_token, connection_refresh
from connections.wording import Said, said

Actor = User | AnonymousUser | None
# The code of the sentence of a check Front could not answer.
UNCHECKED_CODE = "check.could_not"

CHANGED_MEANWHILE = said("check.changed_meanwhile")


class CheckResult(StrEnum):
    ONLINE = "online"  # Front named the company: Online
    REFUSED = "refused"  # a definite no: Offline, Needs reauthorization or Not authorized
    UNCHECKED = "unchecked"  # Front could not be asked or did not answer usably: retry later


@dataclass(frozen=True)
class CheckOutcome:
    """What one check found; ``connection`` holds the stored result and status."""

    connection: Connection
    result: CheckResult
    message: Said
    error_kind: FrontErrorKind | None = None
    retry_after: float | None = None  # seconds Front asked to wait (429)
    rate: RateLimit | None = None  # Front's rate headers on the last answer, if any
    transition: Transition | None = None  # set when the status changed

    @property
    def online(self) -> bool:
        return self.result == CheckResult.ONLINE

    @property
    def retryable(self) -> bool:
        """Worth checking again soon (with backoff, honouring ``retry_after``)."""
        # An undecryptable secret stays so until someone enters it again or fixes the key.
        return (
            self.result == CheckResult.UNCHECKED
            and self.error_kind != FrontErrorKind.SECRET_UNREADABLE
        )


def _grace() -> timedelta:
    return timedelta(minutes=int(settings.FRONTCONNECT_UNREACHABLE_GRACE_MINUTES))


@dataclass
class _Asked:
    """The credential version of the token Front was asked with: the verdict is about it."""

    version: int


@sensitive_variables("token")
def _ask_front(
    connection: Connection, actor: Actor, source: Source | str, asked: _Asked
) -> Company:
    token = connection_access_token(connection=connection, actor=actor, source=source)
    # The token and its version come from one read (a refresh copies both from the row).
    asked.version = connection.credential_version
    key = ratelimit.budget_key(connection)
    try:
        return front.me(token=token, budget_key=key)
    except FrontError as exc:
        if exc.kind != FrontErrorKind.UNAUTHORIZED or not connection.is_oauth:
            raise
    # Front answers 401 to an access token it expired early: refresh once, then ask again.
    connection_refresh(connection=connection, actor=actor, source=source)
    asked.version = connection.credential_version
    return front.me(token=str(connection.access_token), budget_key=key)


def connection_check(*, connection: Connection, actor: Actor, source: Source | str) -> CheckOutcome:
    """Call GET /me (Front is called outside any transaction) and record what it means.

    What Front said is recorded only if the connection still holds the credential it was asked
    with; a check overtaken by a change of sign-in is recorded in the history as superseded.
    """
    asked = _Asked(version=connection.credential_version)
    try:
        company: Company | None = _ask_front(connection, actor, source, asked)
        error: FrontError | None = None
    except FrontError as exc:
        company, error = None, exc
    outcome = _check_record(connection, company, error, actor, source, asked.version)
    metrics.CHECKS.labels(outcome.result.value).inc()
    return outcome


def connection_test(*, connection: Connection, actor: Actor, source: Source | str) -> Connection:
    """Check a connection as the Test connection button does; the stored result is on it."""
    return connection_check(connection=connection, actor=actor, source=source).connection


def _refused_status(connection: Connection, current: str, error: FrontError | None) -> Status:
    if current == Status.REAUTHORIZE or (error and error.kind == FrontErrorKind.INVALID_GRANT):
        return Status.REAUTHORIZE
    if connection.is_oauth and not (connection.access_token or connection.refresh_token):
        return Status.NOT_AUTHORIZED
    return Status.OFFLINE


def _unreachable_since(connection: Connection, now: datetime, version: int) -> datetime:
    """Start the unreachable clock if it is not running; return when it started."""
    Connection.objects.filter(
        pk=connection.pk, unreachable_since__isnull=True, credential_version=version
    ).update(unreachable_since=now)
    since = (
        Connection.objects.filter(pk=connection.pk)
        .values_list("unreachable_since", flat=True)
        .first()
    )
    return since or now


def _check_record(
    connection: Connection,
    company: Company | None,
    error: FrontError | None,
    actor: Actor,
    source: Source | str,
    version: int,
) -> CheckOutcome:
    now = timezone.now()
    current = (
        Connection.objects.filter(pk=connection.pk).values_list("status", flat=True).first()
        or connection.status
    )
    fields: dict[str, object] = {"last_checked_at": now}
    target: Status | None
    if (
        company is not None
        and connection.is_oauth
        and connection.front_company_id
        not in (
            "",
            company.id,
        )
    ):
        result, target = CheckResult.REFUSED, Status.OFFLINE
        message = said("check.other_company", company=company.name)
        fields["unreachable_since"] = None
    elif company is not None:
        result, target = CheckResult.ONLINE, Status.ONLINE
        message = said("check.online", company=company.name)
        fields.update(
            front_company_id=company.id, front_company_name=company.name, unreachable_since=None
        )
    elif error is not None and error.kind == FrontErrorKind.SECRET_UNREADABLE:
        # Front was not asked: nothing is known about the credential, so the status stays.
        result, target = CheckResult.UNCHECKED, None
        message = said(UNCHECKED_CODE, error=error.message)
    elif error is not None and (error.is_transient or error.kind == FrontErrorKind.BAD_RESPONSE):
        result, target = CheckResult.UNCHECKED, None
        message = said(UNCHECKED_CODE, error=error.message)
        # A rate limit says Front is there; only silence and outages count towards the grace.
        if error.kind != FrontErrorKind.RATE_LIMITED:
            since = _unreachable_since(connection, now, version)
            fields["unreachable_since"] = since
            if now - since > _grace() and current == Status.ONLINE:
                target = Status.OFFLINE
                minutes = int(_grace().total_seconds() // 60)
                message = said("check.unreachable_for", minutes=minutes, error=error.message)
    else:
        result = CheckResult.REFUSED
        target = _refused_status(connection, current, error)
        message = error.message if error is not None else said("check.no_answer")
        fields["unreachable_since"] = None
    fields["last_check_result"] = message
    transition = None
    with transaction.atomic():
        # Recorded only while the row holds the credential Front was asked about.
        recorded = Connection.objects.filter(pk=connection.pk, credential_version=version).update(
            **fields, updated_at=now
        )
        if not recorded:
            verdict = (
                said("verdict.status", status=said(f"status.{target.value}"), reason=message)
                if target is not None
                else said("verdict.not_checked", reason=message)
            )
            verdict_superseded(connection=connection, verdict=verdict, source=source, actor=actor)
        else:
            if target is not None:
                transition = connection_status_set(
                    connection=connection,
                    status=target,
                    reason=message,
                    source=source,
                    actor=actor,
                    version=version,
                )
            # Periodic checks keep one result per connection; history only when something
            # changed.
            if source != Source.WORKER or transition is not None:
                event_record(
                    connection=connection,
                    action=Action.TESTED,
                    source=source,
                    actor=actor,
                    success=result == CheckResult.ONLINE,
                    message=message,
                )
    if not recorded:
        connection.refresh_from_db()
        return CheckOutcome(
            connection=connection,
            result=CheckResult.UNCHECKED,
            message=CHANGED_MEANWHILE,
            error_kind=FrontErrorKind.UNAVAILABLE,
            rate=(company.rate if company is not None else error.rate if error else None),
        )
    for name, value in fields.items():
        setattr(connection, name, value)
    if target is None:
        connection.refresh_from_db(fields=["status"])
    return CheckOutcome(
        connection=connection,
        result=result,
        message=message,
        error_kind=error.kind if error is not None else None,
        retry_after=error.retry_after if error is not None else None,
        rate=(company.rate if company is not None else error.rate if error else None),
        transition=transition,
    )
