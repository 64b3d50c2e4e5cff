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
from connections.wording import Said, said

# A check answers ``ok`` or a sentence (common.wording): English in /healthz, the reader's
# language on the admin's dashboard.
State = str | Said


def database_state() -> State:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return said("health.unreachable")
    return OK


def encryption_key_state() -> State:
    try:
        problem = encryption_key_problem()
    except DatabaseError:
        return said("health.database_unknown")
    if problem is not None:
        return said("health.key_mismatch")
    return OK


def worker_heartbeat_state() -> State:
    try:
        return worker_state()
    except DatabaseError:
        return said("health.database_unknown")


def scheduler_lock_state() -> State:
    try:
        return scheduler_state()
    except DatabaseError:
        return said("health.database_unknown")


# Each check names itself in the answer; a new one is one more line here.
CHECKS: dict[str, Callable[[], State]] = {
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
    # Monitors parse it: English whatever the language of the request.
    words = {name: s.english() if isinstance(s, Said) else s for name, s in states.items()}
    return JsonResponse(words, status=200 if healthy else 503)
