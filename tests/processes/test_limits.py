"""Size limits against real servers: a body over its route's cap is refused with 413 before it is read
(`make run`'s server, daphne and gunicorn); a WebSocket message over RHYTHMIC_WS_MAX_FRAME_BYTES is closed with
1009 (`make run`'s server)."""

import json
import os
import socket

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from tests.processes.conftest import Server
from tests.processes.test_replicas import make_live

pytestmark = pytest.mark.slow

JSON_CAP = 1000
PREDICT = "/api/v1/models/limits/predict"
# The server reads nothing from the database for a refused body: a fresh SQLite file in tmp_path serves, on
# either test database.
UNSHARED = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")


@pytest.fixture(params=["run", "daphne", "gunicorn"])
def server(request, tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in UNSHARED}
    env.update(
        DJANGO_SETTINGS_MODULE="rhythmic.settings",
        RHYTHMIC_VAR_DIR=str(tmp_path),
        RHYTHMIC_LOG_LEVEL="WARNING",
        RHYTHMIC_MAX_JSON_BYTES=str(JSON_CAP),
    )
    started = Server(env, tmp_path / "server.log", stack=request.param, ready_path="/livez")
    started.start()
    yield started
    started.stop()


def exchange(server: Server, head: str, body: bytes = b"") -> tuple[int, dict, bytes]:
    """Send ``head`` (the request line and headers) and ``body`` on a raw socket; (status, headers, body) back.

    Nothing may follow the answer (up to the close, when the server says it closes).
    The socket's timeout bounds the wait: a server that waits for the rest of a body never answers in time.
    """
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"the server closed without an answer: {received!r}"
            received += chunk
            if received.startswith(b"HTTP/1.1 100 ") and b"\r\n\r\n" in received:
                received = received.partition(b"\r\n\r\n")[2]  # an interim answer (gunicorn's): the final one follows
        top, _, rest = received.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "the server closed in the middle of its answer"
            rest += chunk
        while headers.get("connection") == "close" and (chunk := sock.recv(65536)):
            rest += chunk
    assert rest[length:] == b"", f"bytes after the answer: {rest[length:]!r}"
    return int(lines[0].split()[1]), headers, rest


def test_a_declared_body_over_the_json_cap_is_refused_before_it_is_sent(server):
    # Given headers announcing 10 GB, and only a few bytes of the body
    head = f"POST {PREDICT} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nContent-Length: 10000000000\n"
    # When they are sent
    status, headers, body = exchange(server, head, b'{"features"')
    # Then the answer is a 413 in the API's shape, without waiting for the rest
    assert status == 413
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "too_large"
    assert "RHYTHMIC_MAX_JSON_BYTES" in error["message"]
    assert f"at most {JSON_CAP} bytes" in error["message"]


def test_a_client_expecting_100_continue_gets_the_413_and_nothing_after_it(server):
    head = (
        f"POST {PREDICT} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
        "Content-Length: 200000000\nExpect: 100-continue\n"
    )
    status, _, body = exchange(server, head)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "too_large"


def test_a_body_within_the_cap_reaches_the_api(server):
    # Given a body under the cap, from a client without credentials
    payload = json.dumps({"features": {"x": 1.0}}).encode()
    head = f"POST {PREDICT} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nContent-Length: {len(payload)}\n"
    # When it is sent, then the API handles it (and asks for credentials)
    status, _, body = exchange(server, head, payload)
    assert status == 401
    assert json.loads(body)["error"]["code"] == "not_authenticated"


def test_an_upload_route_takes_a_body_over_the_json_cap(server):
    # Given chantilly's model upload with a body over the JSON cap but within the artifact cap
    payload = b"x" * (JSON_CAP * 5)
    head = f"POST /api/model HTTP/1.1\nHost: 127.0.0.1\nContent-Length: {len(payload)}\nConnection: close\n"
    # When it is sent, then it is not refused for its size
    status, _, _ = exchange(server, head, payload)
    assert status == 401


@pytest.mark.parametrize("server", ["run", "daphne"], indirect=True)
def test_a_chunked_body_over_the_cap_is_refused_once_it_passes_the_cap(server):
    # Given a body without Content-Length whose first chunk already passes the cap
    head = f"POST {PREDICT} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nTransfer-Encoding: chunked\n"
    chunk = b"x" * (JSON_CAP * 2)
    # When it is sent (without its end), then the answer is a 413 without waiting for the rest
    status, _, body = exchange(server, head, b"%x\r\n%s\r\n" % (len(chunk), chunk))
    assert status == 413
    assert "chunked" in json.loads(body)["error"]["message"]


FRAME_CAP = 2000


@pytest.mark.django_db(transaction=True)
def test_a_websocket_message_over_the_cap_is_closed_with_1009_and_a_reason(start_server, api):
    # Given a streaming-inference socket on make run's server with a small message cap
    make_live()
    server = start_server(RHYTHMIC_WS_MAX_FRAME_BYTES=str(FRAME_CAP))
    url = server.url.replace("http", "ws") + "/ws/models/live/infer/"
    token = api.headers["Authorization"]
    with connect(url, additional_headers={"Authorization": token}, origin=server.url, max_size=None) as ws:
        ws.send(json.dumps({"op": "predict", "rid": 1, "features": {"x": 1.0}}))
        assert json.loads(ws.recv(timeout=20))["rid"] == 1  # a message under the cap is answered
        # When a message over the cap is sent
        ws.send(json.dumps({"op": "predict", "rid": 2, "features": {"x": 1.0}, "pad": "x" * FRAME_CAP}))
        # Then the server closes the socket with 1009 and says why, instead of dropping the connection
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=20)
    assert closed.value.rcvd is not None, "the connection was dropped without a close frame"
    assert closed.value.rcvd.code == 1009
    assert str(FRAME_CAP) in closed.value.rcvd.reason
