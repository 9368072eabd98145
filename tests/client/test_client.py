"""rhythmic_client without a server: typed errors, URLs, framing of the streaming session, no Django import."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import rhythmic_client as rc
from rhythmic_client import Client, Stream

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, rc.InvalidInput),
        (401, rc.Unauthorized),
        (403, rc.PermissionDenied),
        (404, rc.NotFound),
        (409, rc.Conflict),
        (413, rc.TooLarge),
    ],
)
def test_an_http_error_becomes_the_error_class_of_its_status(status, kind):
    error = rc.error_from({"error": {"code": "x", "message": "fix this", "field": "features"}}, status)
    assert type(error) is kind
    assert (error.code, error.message, error.field, error.status) == ("x", "fix this", "features", status)


@pytest.mark.parametrize(
    ("code", "kind"),
    [("not_found", rc.NotFound), ("predict_only", rc.Conflict), ("busy", rc.Busy), ("invalid", rc.InvalidInput)],
)
def test_a_streamed_error_becomes_the_error_class_of_its_code(code, kind):
    assert type(rc.error_from({"rid": 1, "error": {"code": code, "message": "m", "field": None}})) is kind


def test_a_body_without_the_error_shape_still_raises_with_the_status():
    error = rc.error_from("<html>Bad Gateway</html>", 502)
    assert type(error) is rc.RhythmicError
    assert error.code == "http_502"
    assert "Bad Gateway" in error.message


def test_every_error_is_a_rhythmic_error():
    assert all(issubclass(kind, rc.RhythmicError) for kind in (*rc.BY_STATUS.values(), *rc.BY_CODE.values()))


def test_the_stream_url_follows_the_scheme_and_quotes_the_name():
    assert Client("http://h:8000/").ws_url("/ws/x/") == "ws://h:8000/ws/x/"
    assert Client("https://h/base").ws_url("/ws/x/") == "wss://h/base/ws/x/"
    assert Client("http://h").stream("a b").url == "ws://h/ws/models/a%20b/infer/"


class FakeConnection:
    """Answers each array frame with one answer per message, echoing the rids."""

    def __init__(self):
        self.sent: list = []
        self.queue: list = []
        self.most_in_flight = 0

    def send(self, text: str) -> None:
        frame = json.loads(text)
        self.sent.append(frame)
        self.queue.append([{"rid": m["rid"], "prediction": m["features"]["x"]} for m in frame])
        self.most_in_flight = max(self.most_in_flight, len(self.queue))

    def recv(self) -> str:
        return json.dumps(self.queue.pop(0))


def test_send_many_packs_frames_keeps_the_window_and_returns_answers_in_order():
    # Given a session with frames of 3 messages and at most 2 frames in flight
    stream = Stream("ws://unused", None, window=2, batch=3)
    stream.connection = FakeConnection()
    # When 10 messages are sent
    answers = stream.send_many([{"op": "predict", "features": {"x": i}} for i in range(10)])
    # Then they went as 4 frames, never more than 2 unanswered, and the answers follow the messages
    assert [len(frame) for frame in stream.connection.sent] == [3, 3, 3, 1]
    assert stream.connection.most_in_flight == 2
    assert [a["prediction"] for a in answers] == list(range(10))
    assert [a["rid"] for a in answers] == list(range(10))


def test_a_frame_refused_busy_raises_busy():
    stream = Stream("ws://unused", None)
    connection = FakeConnection()
    connection.recv = lambda: json.dumps([{"rid": 0, "error": {"code": "busy", "message": "wait", "field": None}}])
    stream.connection = connection
    with pytest.raises(rc.Busy, match="wait"):
        stream.send_many([{"op": "predict", "features": {"x": 1}}])


def test_the_client_imports_without_django_or_the_server_settings(tmp_path):
    # Given a fresh interpreter outside the project, with no settings module
    code = "import sys, rhythmic_client; print('django' in sys.modules, 'rhythmic' in sys.modules)"
    env = {"PATH": "/usr/bin:/bin"}
    # When it imports the client
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    # Then neither Django nor the server's package was loaded
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_the_client_package_declares_only_requests_and_websockets():
    text = (ROOT / "client" / "pyproject.toml").read_text()
    dependencies = text.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert sorted(d.strip().strip('"').split(">")[0] for d in dependencies.split(",")) == ["requests", "websockets"]
