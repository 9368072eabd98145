"""A server process on Postgres reuses a few connections instead of opening one per request: daphne through its
pool, `make run`'s server through its persistent WSGI threads."""

import pytest
from django.db import connection

from tests.processes.test_replicas import LEARN, PREDICT, make_live

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

APP = "rhythmic-connection-test"


def connections_of(application_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return cursor.fetchone()[0]


@pytest.mark.parametrize("stack", ["daphne", "run"])
def test_sequential_requests_share_a_few_connections(start_server, api, stack):
    # Django runs each ASGI request's sync code in a new thread: without the pool every request opened
    # a connection of its own and left it open until the thread's objects were collected. make run's
    # server runs HTTP on persistent threads, each with one persistent connection.
    make_live()
    server = start_server(stack, PGAPPNAME=APP)  # libpq names the server's connections
    for i in range(60):
        assert api.get(server.url + "/healthz").status_code == 200
        assert api.post(server.url + PREDICT, json={"features": {"x": float(i)}, "id": i}).status_code == 200
        assert api.post(server.url + LEARN, json={"id": i, "ground_truth": 1.0}).status_code == 201
    assert 1 <= connections_of(APP) <= 2
