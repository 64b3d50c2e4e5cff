"""PostgreSQL whose pooled connections are checked on checkout without a round trip.

Django's check for pooled connections (``CONN_HEALTH_CHECKS``) sends an empty statement on every
checkout: a round trip per request, and a second one for a proxied call, which hands its
connection back while it waits for Front. An idle connection has nothing to say, so its socket
becomes readable only when the server closed it (a restart, a terminated backend) or wrote a
notice before doing so; only then is the real check run, and a connection failing it is dropped
from the pool and another taken. A connection cut without a word (a network partition) is found
by its first query, as it would be a moment after a passing check.
"""

from __future__ import annotations

import select
from typing import Any

from django.db.backends.postgresql import base


def spoken_to(connection: Any) -> bool:
    """Whether the server wrote to this idle connection (closing it, in practice)."""
    readable, _, _ = select.select([connection.fileno()], [], [], 0)
    return bool(readable)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        pool = self.pool
        if pool is None:
            return super().get_new_connection(conn_params)
        # Every connection the pool holds may be dead after a restart: try each at most once.
        for _ in range(pool.max_size):
            connection = super().get_new_connection(conn_params)
            if connection.closed or connection.broken:
                pool.putconn(connection)
                continue
            if not spoken_to(connection):
                return connection
            try:
                pool.check_connection(connection)
            except self.Database.Error:
                connection.close()
                pool.putconn(connection)
                continue
            return connection
        return super().get_new_connection(conn_params)
