"""How the app server treats slow clients and database connections (see README, Production).

gunicorn's threaded worker writes each answer with a blocking ``sendall`` on the client's socket:
a client that stops reading would hold that thread for good. ``IdleClientTimeout`` gives the
socket a timeout of FRONTCONNECT_CLIENT_IDLE_TIMEOUT seconds, so a write (or read) that makes no
progress for that long fails, the server closes the answer (which frees a proxy call's slot and
Front's connection) and the thread serves others.

A proxied call spends most of its time waiting for Front, holding a thread but no database
connection (``hand_back_database_connection``). Its own work before that (the key, its slot, the
budget, the connection) takes ``proxy_turn``: at most FRONTCONNECT_PROXY_WORKING_PER_PROCESS
calls of a process do it at once, fewer than the database pool holds, so a page, ``/healthz`` or
the admin always finds a connection and a share of the CPU however many calls come in; the
others wait for their turn without holding a connection. A call that waits for room in its
company's rate budget gives its turn and connection back meanwhile (``pause_between_turns``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class IdleClientTimeout:
    """WSGI middleware: the client's socket (gunicorn passes it on) gets the idle timeout."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        client = environ.get("gunicorn.socket")
        if isinstance(client, socket.socket):
            # gunicorn sets the socket blocking again for the next request on this connection,
            # which clears the timeout; each request sets it anew.
            client.settimeout(float(settings.FRONTCONNECT_CLIENT_IDLE_TIMEOUT))
        return self.app(environ, start_response)


class NoTurn(Exception):
    """A proxied call waited DATABASE_POOL_TIMEOUT seconds for its turn: the server is busy."""


@cache
def _turns() -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(int(settings.FRONTCONNECT_PROXY_WORKING_PER_PROCESS))


_holding = threading.local()


@contextmanager
def proxy_turn() -> Iterator[None]:
    """Hold one of the process's turns for a proxied call's own work, until the block ends or
    the call hands its database connection back to wait for Front; raise NoTurn when none
    comes within DATABASE_POOL_TIMEOUT seconds."""
    _take_turn()
    try:
        yield
    finally:
        _end_turn()


def _take_turn() -> None:
    turns = _turns()
    if not turns.acquire(blocking=False):
        # The turns' holders need pool connections: a call waiting for a turn must not hold
        # one (the encryption-key check in the middleware may have taken it). Eight such
        # waiters once held a process's whole pool for DATABASE_POOL_TIMEOUT seconds.
        _return_connection()
        if not turns.acquire(timeout=float(settings.DATABASE_POOL_TIMEOUT)):
            raise NoTurn
    _holding.turn = True


def _end_turn() -> None:
    if getattr(_holding, "turn", False):
        _holding.turn = False
        _turns().release()


def hand_back_database_connection() -> None:
    """Before a long wait (Front): end the call's turn and return this thread's database
    connection to the pool.

    The connection is returned only with a pool (PostgreSQL, DATABASE_POOL_SIZE): the next query
    takes one again at once. Without one, closing would cost a reconnect, so it is kept.
    """
    _end_turn()
    _return_connection()


def _return_connection() -> None:
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


def pause_between_turns(seconds: float) -> None:
    """Wait ``seconds`` (for room in a rate budget) holding neither a turn nor a database
    connection, then take a turn again: a call that waits is not working. Raise NoTurn when
    no turn comes within DATABASE_POOL_TIMEOUT seconds."""
    had_turn = getattr(_holding, "turn", False)
    hand_back_database_connection()
    time.sleep(seconds)
    if had_turn:
        _take_turn()
