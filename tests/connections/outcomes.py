"""Fake checks for tests that stub Front out: a function that sets a status becomes a check."""

from __future__ import annotations

from collections.abc import Callable

from connections.health import CheckOutcome, CheckResult
from connections.models import Connection, Status


def outcome_of(connection: Connection) -> CheckOutcome:
    """The CheckOutcome a check that left ``connection`` as it is would have returned."""
    if connection.status == Status.ONLINE:
        result = CheckResult.ONLINE
    elif connection.status in (Status.UNCHECKED, Status.NOT_AUTHORIZED):
        result = CheckResult.UNCHECKED
    else:
        result = CheckResult.REFUSED
    return CheckOutcome(connection=connection, result=result, message=connection.last_check_result)


def as_check(fake: Callable[..., Connection]) -> Callable[..., CheckOutcome]:
    """Turn a fake ``connection_test`` (returns the connection) into a fake ``connection_check``."""

    def check(*, connection: Connection, actor: object, source: object) -> CheckOutcome:
        return outcome_of(fake(connection=connection, actor=actor, source=source))

    return check
