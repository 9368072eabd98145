"""Live-server fixtures for the client tests: the process fixtures of tests/processes, plus a ready client."""

import pytest
from rhythmic_client import Client

from tests.processes import conftest as processes

start_server = processes.start_server  # the fixtures of tests/processes, shared here
api = processes.api


@pytest.fixture
def server(start_server):
    """One daphne process (HTTP and WebSocket) on the test database; tasks such as validation run inline."""
    return start_server(CELERY_TASK_ALWAYS_EAGER="1")


@pytest.fixture
def client(server, api) -> Client:
    """A client with the token of a user who may do everything."""
    token = api.headers["Authorization"].split()[1]
    with Client(server.url, token) as client:
        yield client
