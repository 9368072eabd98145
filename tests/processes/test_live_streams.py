"""Live streams from real daphne processes: chantilly's SSE read by real HTTP clients, and events crossing
processes through Redis to a real WebSocket client."""

import contextlib
import json
import os
import queue
import socket
import threading
import uuid

import pytest
import redis
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from serving import compat
from tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT = 10.0


@pytest.fixture
def workspace(transactional_db):
    """chantilly's workspace with one regression model, "live", the default."""
    compat.init(flavor_name="regression")
    compat.upload(data=factories.artifact_bytes(), name="live")


@pytest.fixture
def layer_env():
    """Server environment with a channel-layer key prefix of this test's own (removed afterwards), so runs
    sharing a Redis never hear each other's events."""
    prefix = f"rhythmic-test-{uuid.uuid4().hex[:12]}"
    yield {"RHYTHMIC_CHANNEL_PREFIX": prefix}
    url = os.environ.get("REDIS_URL")
    if url:
        client = redis.Redis.from_url(url)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()


class Listener(threading.Thread):
    """Reads one SSE response line by line and puts each complete message (comments too) on a queue."""

    def __init__(self, url: str, headers: dict):
        super().__init__(daemon=True)
        self.response = requests.get(url, headers=headers, stream=True, timeout=TIMEOUT)
        self.messages: queue.Queue = queue.Queue()
        self.start()

    def run(self) -> None:
        lines: list[str] = []
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line:
                    lines.append(line)
                elif lines:
                    self.messages.put("\n".join(lines))
                    lines = []
        except (requests.RequestException, AttributeError, ValueError, OSError):
            # Closed by the test: a response closed under a read ends it with any of these inside urllib3.
            pass

    def next(self, *, comments: bool = False) -> str:
        while True:
            message = self.messages.get(timeout=TIMEOUT)
            if comments or not message.startswith(":"):
                return message

    def close(self) -> None:
        # Shut the socket first: the reading thread holds the response until its read returns, which would
        # otherwise be at the read timeout (TIMEOUT), not now.
        connection = getattr(self.response.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.join(TIMEOUT)
        self.response.close()


def decoded(message: str) -> tuple[str | None, dict]:
    fields = dict(line.split(": ", 1) for line in message.split("\n"))
    return fields.get("event"), json.loads(fields["data"])


def test_several_http_clients_read_chantillys_event_stream_from_a_real_server(start_server, api, workspace, layer_env):
    # Given a real daphne process and three clients reading /api/stream/events
    server = start_server(**layer_env)
    listeners = [Listener(server.url + "/api/stream/events", dict(api.headers)) for _ in range(3)]
    try:
        for listener in listeners:
            assert listener.response.status_code == 200
            assert listener.response.headers["Content-Type"] == "text/event-stream"
            assert listener.next(comments=True) == ": connected"
        # When a chantilly client predicts and learns
        assert api.post(server.url + "/api/predict", json={"features": {"x": 1.0}, "id": 1}).status_code == 201
        assert api.post(server.url + "/api/learn", json={"id": 1, "ground_truth": 2.0}).status_code == 201
        # Then every listener gets both events in chantilly's format
        for listener in listeners:
            assert decoded(listener.next()) == ("predict", {"model": "live", "features": {"x": 1.0}, "prediction": 0.0})
            assert decoded(listener.next()) == (
                "learn",
                {"model": "live", "features": {"x": 1.0}, "prediction": 0.0, "ground_truth": 2.0},
            )
    finally:
        for listener in listeners:
            listener.close()


def test_the_metrics_stream_of_a_real_server_follows_learns(start_server, api, workspace, layer_env):
    server = start_server(**layer_env)
    listener = Listener(server.url + "/api/stream/metrics", dict(api.headers))
    try:
        assert decoded(listener.next())[1]["MAE"] == 0.0  # the current values come first
        api.post(server.url + "/api/learn", json={"features": {"x": 1.0}, "ground_truth": 3.0}).raise_for_status()
        assert decoded(listener.next())[1]["MAE"] == 3.0
    finally:
        listener.close()


def test_an_event_from_one_process_reaches_a_websocket_client_of_another_through_redis(
    start_server, api, workspace, layer_env
):
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("cross-process delivery needs Redis: run with REDIS_URL=redis://...")
    # Given two daphne processes sharing one Redis channel layer
    env = {**layer_env, "REDIS_URL": url}
    a, b = start_server(**env), start_server(**env)
    # And a WebSocket client of B, authenticated by its token header
    ws_url = b.url.replace("http://", "ws://") + "/ws/events/?model=live"
    with connect(ws_url, additional_headers={"Authorization": api.headers["Authorization"]}, origin=b.url) as socket:
        socket.send(json.dumps({"type": "ping"}))  # the subscription is in place once the pong comes back
        assert json.loads(socket.recv(timeout=TIMEOUT)) == {"type": "pong"}
        # When a prediction is made on A
        api.post(
            a.url + "/api/v1/models/live/predict", json={"features": {"x": 2.0}, "id": "from-a"}
        ).raise_for_status()
        # Then B's client receives the event
        event = json.loads(socket.recv(timeout=TIMEOUT))
    assert (event["type"], event["model"], event["id"], event["features"]) == ("predict", "live", "from-a", {"x": 2.0})


@pytest.mark.parametrize("path", ["/ws/events/", "/ws/models/live/metrics/", "/ws/models/live/infer/"])
def test_a_real_client_without_a_token_reads_the_close_code_4401(start_server, workspace, path):
    # The handshake is accepted and the connection closed with the code: a refused handshake would only
    # show the client an HTTP 403, the same as a bad Origin.
    server = start_server()
    url = server.url.replace("http://", "ws://") + path
    with connect(url, origin=server.url) as socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=TIMEOUT)
    assert closed.value.rcvd.code == 4401
