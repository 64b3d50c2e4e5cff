"""/healthz: one JSON answer naming each check; 200 when every check is ok, 503 otherwise."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from common.broker import OK, broker_state
from connections.beat import scheduler_state
from connections.keys import encryption_key_problem
from connections.upkeep import worker_state


def database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "unreachable"
    return OK


def encryption_key_state() -> str:
    try:
        problem = encryption_key_problem()
    except DatabaseError:
        return "unknown: the database is unreachable"
    if problem is not None:
        return (
            "mismatch: FRONTCONNECT_ENCRYPTION_KEY is not the key this database's secrets were "
            "written with, so no page is served"
        )
    return OK


def worker_heartbeat_state() -> str:
    try:
        return worker_state()
    except DatabaseError:
        return "unknown: the database is unreachable"


def scheduler_lock_state() -> str:
    try:
        return scheduler_state()
    except DatabaseError:
        return "unknown: the database is unreachable"


# Each check names itself in the answer; a new one is one more line here.
CHECKS: dict[str, Callable[[], str]] = {
    "database": database_state,
    "encryption_key": encryption_key_state,
    "worker": worker_heartbeat_state,
    "scheduler": scheduler_lock_state,
    "broker": broker_state,
}


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and configuration: every check's state by name."""
    states = {name: check() for name, check in CHECKS.items()}
    healthy = all(state == OK for state in states.values())
    return JsonResponse(states, status=200 if healthy else 503)
