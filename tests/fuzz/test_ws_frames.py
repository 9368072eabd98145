"""A frame fuzzer for the WebSocket protocol: malformed frames to every consumer get error frames, never a crash.

Each socket of rhythmic/routing.py gets the same corpus (bad JSON, every truncation of a valid frame, deep
nesting, wrong types, huge numbers, NUL characters, binary frames) through the whole ASGI stack; every frame
must get one clean answer, none a server error, and the connection must still work afterwards.
"""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from api.guards import CLOSE_BAD_REQUEST
from catalogue import services
from rhythmic.asgi import application
from serving.process import current
from tests import factories
from tests.conftest import ALL_PERMISSIONS

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10.0
ORIGIN = (b"origin", b"http://testserver")
VALID = '{"op": "predict", "rid": 1, "id": "p-1", "features": {"x": 1.5}}'
CORPUS: list[str | bytes] = [
    "",
    "not json",
    "{",
    "[1,",
    "nul\x00",
    "NaN",
    "[" * 10_000 + "]" * 10_000,
    '{"a":' * 5_000 + "1" + "}" * 5_000,
    "1" * 5_000,
    "1e999",
    "-0",
    "null",
    "[]",
    '[1, "a", null, [], {}]',
    '{"op": "predict", "rid": "\\u0000", "features": {"x": 1}}',
    '{"op": "predict", "rid": 2, "features": {"\\u0000": 1}}',
    '{"op": "predict", "rid": 3, "id": "\\ud800", "features": {"x": 1}}',
    json.dumps({"op": [], "rid": {}}),
    json.dumps({"op": {"predict": 1}}),
    json.dumps({"op": "predict", "rid": 4, "features": "x"}),
    json.dumps({"op": "predict", "rid": 5, "features": {"x": 1}, "id": 10**300}),
    json.dumps({"op": "predict", "rid": 10**300, "features": {"x": 1}}),
    json.dumps({"op": "learn", "rid": 6, "id": [1], "ground_truth": {"a": []}}),
    json.dumps({"op": "learn", "rid": 7, "features": {"x": True}, "ground_truth": "ten"}),
    json.dumps([{"op": "learn"}] * 3),
    json.dumps({"type": "ping", "extra": [[[[1]]]]}),
    b"\x00\xff binary",
    b"",
    *(VALID[:cut] for cut in range(1, len(VALID))),  # every truncation of a valid frame
]


@pytest.fixture
def token():
    current().forget()
    model = factories.MLModelFactory(name="fuzz")
    services.deployment_promote(version=factories.ModelVersionFactory(model=model))
    user = factories.UserFactory(username="fuzzer", permissions=ALL_PERMISSIONS)
    yield Token.objects.create(user=user).key
    current().forget()


def socket(path: str, token: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=[ORIGIN, (b"authorization", f"Token {token}".encode())])


def fuzz(path: str, token: str, *, check: str) -> list:
    """Send the corpus one frame at a time; the answers, then the answer to ``check`` (a valid frame)."""

    async def scenario() -> list:
        communicator = socket(path, token)
        connected, code = await communicator.connect(TIMEOUT)
        assert connected, code
        if "/metrics/" in path:
            await communicator.receive_json_from(TIMEOUT)  # the snapshot sent on connect
        answers = []
        for frame in [*CORPUS, check]:
            # send_input: send_to refuses empty frames, which a real client can send
            kind = "bytes" if isinstance(frame, bytes) else "text"
            await communicator.send_input({"type": "websocket.receive", kind: frame})
            output = await communicator.receive_output(TIMEOUT)
            assert output["type"] == "websocket.send", f"after {frame[:60]!r}: {output}"
            answers.append(json.loads(output["text"]))
        await communicator.disconnect()
        return answers

    return async_to_sync(scenario)()


def test_the_inference_socket_answers_every_malformed_frame_with_an_error_and_keeps_working(token):
    answers = fuzz("/ws/models/fuzz/infer/", token, check=VALID)
    for frame, answer in zip(CORPUS, answers[:-1], strict=True):
        assert "server_error" not in json.dumps(answer), f"{frame[:60]!r} -> {answer}"
    assert answers[-1]["rid"] == 1 and "prediction" in answers[-1]


@pytest.mark.parametrize("path", ["/ws/events/", "/ws/events/?model=fuzz", "/ws/models/fuzz/metrics/"])
def test_the_live_sockets_answer_every_frame_but_a_ping_with_an_error_frame(token, path):
    answers = fuzz(path, token, check='{"type": "ping"}')
    for frame, answer in zip(CORPUS, answers[:-1], strict=True):
        assert answer["type"] in ("error", "pong"), f"{frame[:60]!r} -> {answer}"
        assert answer.get("code") != "server_error"
    assert answers[-1] == {"type": "pong"}


@pytest.mark.parametrize(
    "path",
    [
        "/ws/models/%00/infer/",
        "/ws/models/a%00b/metrics/",
        "/ws/events/?model=%00",
        "/ws/events/?token=%00",
        "/ws/models/fuzz/infer/?x=%ED%A0%80%00",
    ],
)
def test_a_nul_in_a_socket_path_or_query_string_closes_it_with_4400(token, path):
    async def scenario() -> int:
        communicator = socket(path, token)
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        closed = await communicator.receive_output(TIMEOUT)
        assert closed["type"] == "websocket.close"
        return closed["code"]

    assert async_to_sync(scenario)() == CLOSE_BAD_REQUEST
