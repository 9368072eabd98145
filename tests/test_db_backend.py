"""rhythmic.db.postgresql: Django's health check without a round trip while the connection is quiet."""

import select

import psycopg
import pytest
from django.db import connection

from rhythmic.db.postgresql.base import _quiet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]


def terminate_backend() -> None:
    """End this connection's server process from another connection, as a restart or a timeout does."""
    pid = connection.connection.info.backend_pid
    settings = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in settings.items() if k != "cursor_factory"}, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    # Await the server's goodbye on the socket (select waits for it; no sleep).
    select.select([connection.connection.pgconn.socket], [], [], 10)


def test_an_idle_connection_is_quiet_and_the_health_check_sends_nothing(tmp_path):
    # Given an open, idle connection, traced by libpq
    connection.ensure_connection()
    raw = connection.connection
    trace = tmp_path / "trace"
    with trace.open("wb") as out:
        raw.pgconn.trace(out.fileno())
        # When the health check of a new request runs
        connection.health_check_done = False
        connection.close_if_health_check_failed()
        raw.pgconn.untrace()
    # Then it kept the connection and sent nothing to the server
    assert connection.connection is raw
    assert connection.health_check_done
    assert trace.read_bytes() == b""


def test_a_connection_the_server_ended_is_closed_by_the_health_check_and_the_next_query_reconnects():
    # Given a connection whose server process was terminated
    connection.ensure_connection()
    raw = connection.connection
    terminate_backend()
    assert not _quiet(raw)
    # When the health check of a new request runs
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    # Then the dead connection was closed, and the request's query runs on a new one
    assert connection.connection is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert connection.connection is not raw
