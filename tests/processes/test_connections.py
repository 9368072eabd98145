"""A daphne process on Postgres reuses a few pooled connections instead of opening one per request."""

import pytest
from django.db import connection

from tests.processes.test_replicas import LEARN, PREDICT, make_live

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

APP = "rhythmic-connection-test"


def connections_of(application_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return cursor.fetchone()[0]


def test_sequential_requests_under_daphne_share_pooled_connections(start_server, api):
    # Django runs each ASGI request's sync code in a new thread: without the pool every request opened
    # a connection of its own and left it open until the thread's objects were collected.
    make_live()
    server = start_server(PGAPPNAME=APP)  # libpq names the server's connections
    for i in range(60):
        assert api.get(server.url + "/healthz").status_code == 200
        assert api.post(server.url + PREDICT, json={"features": {"x": float(i)}, "id": i}).status_code == 200
        assert api.post(server.url + LEARN, json={"id": i, "ground_truth": 1.0}).status_code == 201
    assert 1 <= connections_of(APP) <= 2
