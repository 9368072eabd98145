"""What one predict(id) and one learn(id) ask of the database, counted inside the WSGI application.

    .venv/bin/python bench/round_trips.py [--pairs 200] [--database-url postgres://postgres@127.0.0.1:5432/bench]

It calls ``rhythmic.wsgi.application`` in this process (the request signals run, so Django's connection health
check does too) and counts, per request:
- SQL statements Django executes (``connection.execute_wrapper``: what ``django_assert_num_queries`` sees);
- on Postgres, round trips to the server: libpq's protocol trace of the connection, counting the client's
  ``Sync`` and simple ``Query`` messages (each waits for the server's answer), so BEGIN, COMMIT and the health
  check's ``SELECT 1`` are counted too;
- on Postgres, WAL flushes (``pg_stat_wal.wal_sync``, server-wide: run it on an otherwise idle server): the commits
  that had to reach the disk.
Also the CPU and wall time per pair of those in-process calls (no HTTP server, no socket to the client).
"""

import argparse
import os
import tempfile
import time

from common import environment, prepare, stream
from request_path import caller


class Counter:
    """Statements through Django's cursor wrappers."""

    def __init__(self) -> None:
        self.statements = 0

    def __call__(self, execute, sql, params, many, context):
        self.statements += 1
        return execute(sql, params, many, context)


def round_trips(trace_path: str, start: int) -> tuple[int, int]:
    """(round trips in the trace file from byte ``start`` on, the new end offset)."""
    with open(trace_path, "rb") as trace:
        trace.seek(start)
        text = trace.read()
    count = 0
    for line in text.splitlines():
        fields = line.split(b"\t")
        # libpq's trace without timestamps: direction (F: from the client), length, message type, ...
        if len(fields) > 2 and fields[0] == b"F" and fields[2] in (b"Sync", b"Query"):
            count += 1
    return count, start + len(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    # No instance row: its heartbeat's writes would count among the server-wide WAL flushes. A connection kept
    # for the whole run (not reopened at CONN_MAX_AGE on a slow machine); one reopened anyway is traced too.
    env = environment(args.database_url, RHYTHMIC_REGISTER_INSTANCES="0", DATABASE_CONN_MAX_AGE="3600")
    token = prepare(env, ["bench"])
    from django.db import connection
    from django.db.backends.signals import connection_created

    from rhythmic.wsgi import application

    call = caller(application, token)
    data = stream(args.pairs)
    postgres = connection.vendor == "postgresql"

    def wal_syncs() -> int:
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as other:
            return other.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()[0]

    for i, (x, y) in enumerate(data[:20]):  # warm-up: replica loaded, token cached, connection open
        call("POST", "/api/v1/models/bench/predict", {"features": x, "id": -1 - i})
        call("POST", "/api/v1/models/bench/learn", {"id": -1 - i, "ground_truth": y})
    trace_file = tempfile.NamedTemporaryFile(prefix="rhythmic-pq-trace-", suffix=".log", delete=False)  # noqa: SIM115
    if postgres:
        # A backend sends its WAL statistics when it ends (or at most once a second): closing the connection
        # before each reading of pg_stat_wal makes them complete.
        connection.close()
        time.sleep(0.5)
    syncs = wal_syncs() if postgres else 0
    opened = []

    def trace(sender, connection, **kwargs) -> None:
        """Trace every connection this thread opens during the run: one reopened (a failed health check, an
        error that left it unusable) is counted too, and the reopening is reported."""
        if connection.alias == "default":
            connection.connection.pgconn.trace(trace_file.fileno())
            # Suppress timestamps: the fields are then direction, length, type.
            connection.connection.pgconn.set_trace_flags(1)
            opened.append(connection.connection)

    if postgres:
        connection_created.connect(trace)
        connection.ensure_connection()
    counter = Counter()
    totals = {"predict": [0, 0], "learn": [0, 0]}
    offset = 0
    started, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(counter):
        for i, (x, y) in enumerate(data):
            for route, body in (("predict", {"features": x, "id": i}), ("learn", {"id": i, "ground_truth": y})):
                before = counter.statements
                call("POST", f"/api/v1/models/bench/{route}", body)
                totals[route][0] += counter.statements - before
                if postgres:
                    trips, offset = round_trips(trace_file.name, offset)
                    totals[route][1] += trips
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    if postgres:
        connection_created.disconnect(trace)
        connection.close()
        time.sleep(0.5)
        syncs = wal_syncs() - syncs
    n = len(data)
    where = connection.vendor
    print(f"# round trips: {n} predict(id)+learn(id) pairs through rhythmic.wsgi in-process, {where}")
    for route, (statements, trips) in totals.items():
        line = f"{route}(id): {statements / n:.2f} SQL statements"
        if postgres:
            line += f", {trips / n:.2f} round trips"
        print(line)
    if postgres:
        print(f"pair: {(totals['predict'][1] + totals['learn'][1]) / n:.2f} round trips, {syncs / n:.2f} WAL flushes")
        if len(opened) > 1:
            print(f"the connection was reopened {len(opened) - 1} time(s) during the run (all counted)")
    print(f"pair: {wall / n * 1000:.3f} ms wall, {cpu / n * 1000:.3f} ms CPU in this process")


if __name__ == "__main__":
    main()
