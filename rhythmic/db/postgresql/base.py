"""Django's PostgreSQL backend with a health check that costs no round trip when the connection is quiet, and
prepared statements for the serving hot path.

With ``CONN_HEALTH_CHECKS`` Django checks a persistent connection before each request uses it by sending
``SELECT 1``: one round trip per request, a quarter of a predict(id) + learn(id) pair's. A connection the server
closed (a restart, ``idle_session_timeout``, a terminated backend) has something to read on its socket: the
server's last message, or the end of the stream. So a connection with nothing to read, idle, and not known to be
broken is usable, and only one with something to read is checked with ``SELECT 1`` as Django does. A peer that
vanished without closing (a cable pulled) is found by the query that uses the connection, as without the check.

``prepared_cursor()`` binds parameters on the server and prepares each statement on first use per connection, so
the server parses and plans serving.log's few fixed statements once instead of at every request (Django binds on
the client and prepares nothing, for connection poolers' sake). ``DATABASES["default"]["PREPARE"] = False``
(``DATABASE_PREPARE=0``) turns it off: behind a pooler in transaction mode that does not keep prepared statements.
"""

import select

import psycopg
from django.db.backends.postgresql import base, operations
from psycopg import pq
from psycopg.pq import Format


class PreparedCursor(base.ServerBindingCursor):
    """Server-side binding, every statement prepared (psycopg keeps a connection's prepared statements)."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        """What DEBUG and CaptureQueriesContext record: a prepared statement's text with its parameters (Django's
        reads the text of a query bound on the client, which a prepared one has not)."""
        if isinstance(cursor, PreparedCursor):
            try:
                return self.compose_sql(sql, params)
            except psycopg.errors.DataError:
                return sql
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def get_connection_params(self):
        params = super().get_connection_params()
        if self.settings_dict.get("PREPARE", True) and params.get("prepare_threshold") is None:
            # Django leaves it None, which turns prepare=True off too. Its own cursors bind on the client, which
            # psycopg never prepares, so only PreparedCursor's statements are prepared.
            params["prepare_threshold"] = 5
        return params

    def prepared_cursor(self):
        """A cursor whose statements are prepared (see the module), wrapped as Django wraps its own (so
        counted by django_assert_num_queries and logged under DEBUG); Django's cursor with PREPARE off."""
        if not self.settings_dict.get("PREPARE", True):
            return self.cursor()
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            cursor = PreparedCursor(self.connection)
            # As Django's create_cursor: the cursor's timezone only if the connection's differs.
            loader = self.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, Format.TEXT)
            if self.timezone != loader.timezone:
                base.register_tzloader(self.timezone, cursor)
            return self._prepare_cursor(cursor)

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
