"""Django's PostgreSQL backend with a health check that costs no round trip when the connection is quiet.

With ``CONN_HEALTH_CHECKS`` Django checks a persistent connection before each request uses it by sending
``SELECT 1``: one round trip per request, a quarter of a predict(id) + learn(id) pair's. A connection the server
closed (a restart, ``idle_session_timeout``, a terminated backend) has something to read on its socket: the
server's last message, or the end of the stream. So a connection with nothing to read, idle, and not known to be
broken is usable, and only one with something to read is checked with ``SELECT 1`` as Django does. A peer that
vanished without closing (a cable pulled) is found by the query that uses the connection, as without the check.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        if self.pool or self.connection is None or not self.health_check_enabled or self.health_check_done:
            return super().close_if_health_check_failed()
        if _quiet(self.connection):
            self.health_check_done = True
            return None
        return super().close_if_health_check_failed()


def _quiet(connection) -> bool:
    """Open, idle outside a transaction, and nothing from the server waiting on the socket."""
    if connection.closed or connection.broken:
        return False
    pgconn = connection.pgconn
    if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable
