"""How the app server treats slow clients and database connections (see README, Production).

gunicorn's threaded worker writes each answer with a blocking ``sendall`` on the client's socket:
a client that stops reading would hold that thread for good. ``IdleClientTimeout`` gives the
socket a timeout of FRONTCONNECT_CLIENT_IDLE_TIMEOUT seconds, so a write (or read) that makes no
progress for that long fails, the server closes the answer (which frees a proxy call's slot and
Front's connection) and the thread serves others.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
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


def hand_back_database_connection() -> None:
    """Return this thread's database connection to the pool before a long wait (Front).

    Only with a pool (PostgreSQL, DATABASE_POOL_SIZE): the next query takes one again at once.
    Without one, closing would cost a reconnect, so the connection is kept.
    """
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()
