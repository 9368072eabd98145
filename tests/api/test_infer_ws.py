"""Streaming inference over a WebSocket: ordering, batching, errors, auth and backpressure."""

import json
import threading

import dill
import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token
from river import linear_model, preprocessing

from api import consumers
from api.ws_auth import WebSocketAuth
from catalogue import services
from rhythmic.routing import websocket_urlpatterns
from serving.models import LearnEvent
from tests import factories

# Transactional: database_sync_to_async closes old connections around each call, as in a real server.
pytestmark = pytest.mark.django_db(transaction=True)

APP = WebSocketAuth(URLRouter(websocket_urlpatterns))


@pytest.fixture
def live():
    model = factories.MLModelFactory(name="taxi")
    version = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    )
    services.deployment_promote(version=version)
    return model


@pytest.fixture
def token(maintainer) -> str:
    return Token.objects.get_or_create(user=maintainer)[0].key


def communicator_for(token: str | None, model: str = "taxi") -> WebsocketCommunicator:
    """A client of the model's inference socket, with the token (when given) in its Authorization header."""
    headers = [(b"authorization", f"Token {token}".encode())] if token else []
    return WebsocketCommunicator(APP, f"/ws/models/{model}/infer/", headers=headers)


def talk(frames: list, *, token: str | None = None, model: str = "taxi", expect: int | None = None) -> list:
    """Open a connection, send every frame, collect ``expect`` answers (one per frame by default), close."""

    async def scenario() -> list:
        communicator = communicator_for(token, model)
        connected, _ = await communicator.connect()
        assert connected
        for frame in frames:
            await communicator.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))
        answers = [json.loads(await communicator.receive_from(timeout=10)) for _ in range(expect or len(frames))]
        await communicator.disconnect()
        return answers

    return async_to_sync(scenario)()


def close_code(*, token: str | None) -> int:
    async def scenario() -> int:
        communicator = communicator_for(token)
        await communicator.connect()
        closed = await communicator.receive_output(timeout=10)
        await communicator.wait()
        return closed["code"]

    return async_to_sync(scenario)()


def test_predict_then_learn_on_one_connection_answers_each_with_its_rid(live, token):
    # When a client predicts with an id and learns it on one connection
    answers = talk(
        [
            {"op": "predict", "rid": "p", "id": 7, "features": {"km": 3.0}},
            {"op": "learn", "rid": "l", "id": 7, "ground_truth": 12.5},
        ],
        token=token,
    )
    # Then the answers come in order, with the serving core's fields and the rid
    assert answers[0] == {"rid": "p", "model": "taxi", "version": 1, "prediction": 0.0, "state_seq": 0, "id": 7}
    assert answers[1]["rid"] == "l"
    assert answers[1]["seq"] == 1
    # And the learn is in the durable log
    assert LearnEvent.objects.filter(model=live).count() == 1


def test_an_array_is_answered_with_an_array_in_the_same_order(live, token):
    # Given an array mixing predicts and learns of the ids it predicts
    frame = [{"op": "predict", "rid": i, "id": i, "features": {"km": float(i)}} for i in range(5)]
    frame += [{"op": "learn", "rid": 10 + i, "id": i, "ground_truth": 2.0 * i} for i in range(5)]
    # When it is sent as one frame
    [answer] = talk([frame], token=token)
    # Then one array comes back, one answer per message, in order
    assert [a["rid"] for a in answer] == [0, 1, 2, 3, 4, 10, 11, 12, 13, 14]
    assert [a["seq"] for a in answer[5:]] == [1, 2, 3, 4, 5]


def test_many_single_frames_are_answered_in_the_order_sent(live, token):
    # Given 50 frames alternating predict and learn, sent without waiting
    frames = []
    for i in range(25):
        frames.append({"op": "predict", "rid": 2 * i, "id": i, "features": {"km": float(i)}})
        frames.append({"op": "learn", "rid": 2 * i + 1, "id": i, "ground_truth": float(i)})
    # When the answers arrive
    answers = talk(frames, token=token)
    # Then they follow the frames' order and every learn found its prediction
    assert [a["rid"] for a in answers] == list(range(50))
    assert all("error" not in a for a in answers)


def test_predictions_match_a_model_fed_the_same_stream(live, token):
    # Given the same stream fed to an in-process model
    reference = preprocessing.StandardScaler() | linear_model.LinearRegression()
    stream = [({"km": float(i % 7), "h": float(i % 3)}, float(i % 5)) for i in range(20)]
    frames = []
    expected = []
    for i, (x, y) in enumerate(stream):
        frames.append({"op": "predict", "rid": i, "features": x})
        frames.append({"op": "learn", "rid": -1, "features": x, "ground_truth": y})
        expected.append(reference.predict_one(x))
        reference.learn_one(x, y)
    # When it streams predict/learn over the connection
    answers = talk(frames, token=token)
    # Then every prediction is the one the in-process model made
    assert [a["prediction"] for a in answers if a["rid"] != -1] == expected


def test_a_bad_message_gets_its_own_error_and_the_connection_stays_open(live, token):
    # When a bad op, a bad features value and a good predict follow one another
    answers = talk(
        [
            {"op": "guess", "rid": 1},
            {"op": "predict", "rid": 2, "features": "nope"},
            {"op": "predict", "rid": 3, "features": {"km": 1.0}},
        ],
        token=token,
    )
    # Then each bad one is answered with the API's error shape and the good one still works
    assert answers[0] == {
        "rid": 1,
        "error": {
            "code": "invalid",
            "message": 'op must be "predict", "learn" or "rank", not \'guess\'',
            "field": "op",
        },
    }
    assert answers[1]["rid"] == 2
    assert answers[1]["error"]["field"] == "features"
    assert answers[2]["prediction"] == 0.0


def test_a_frame_that_is_not_json_gets_an_error(live, token):
    answers = talk(["{not json", {"op": "predict", "rid": 1, "features": {"km": 1.0}}], token=token)
    assert answers[0]["error"]["code"] == "invalid"
    assert "not valid JSON" in answers[0]["error"]["message"]
    assert answers[1]["rid"] == 1


def test_a_message_that_is_not_an_object_gets_an_error(live, token):
    [answer] = talk([[42]], token=token)
    assert answer[0]["rid"] is None
    assert answer[0]["error"]["code"] == "invalid"
    assert "JSON object" in answer[0]["error"]["message"]


def test_learning_an_unknown_id_answers_not_found(live, token):
    [answer] = talk([{"op": "learn", "rid": "x", "id": "never", "ground_truth": 1.0}], token=token)
    assert answer["error"]["code"] == "not_found"
    assert answer["error"]["field"] == "id"


def test_an_unknown_model_answers_not_found_per_message(db, token):
    [answer] = talk([{"op": "predict", "rid": 1, "features": {"km": 1.0}}], token=token, model="nope")
    assert answer == {"rid": 1, "error": {"code": "not_found", "message": "no model named 'nope'", "field": None}}


def test_an_array_longer_than_the_batch_limit_is_refused_whole(live, token, settings):
    settings.RHYTHMIC_MAX_BATCH = 3
    [answer] = talk([[{"op": "predict", "rid": i, "features": {"km": 1.0}} for i in range(4)]], token=token)
    assert answer["error"]["code"] == "too_large"
    assert "at most 3" in answer["error"]["message"]


def test_runs_longer_than_the_batch_limit_are_split(live, token, settings):
    # Given a batch limit of 2
    settings.RHYTHMIC_MAX_BATCH = 2
    # When five single predicts arrive together
    answers = talk([{"op": "predict", "rid": i, "features": {"km": 1.0}} for i in range(5)], token=token)
    # Then all five are answered
    assert [a.get("prediction") for a in answers] == [0.0] * 5


def test_an_anonymous_connection_is_closed_with_4401(live):
    assert close_code(token=None) == 4401


def test_a_wrong_token_is_closed_with_4401(live):
    assert close_code(token="not-a-token") == 4401


def test_an_address_that_sent_too_many_bad_tokens_is_closed_with_4429_even_with_a_good_one(live, token, settings):
    # Given a limit of 1 failed token authentication a minute, used up by a bad token
    settings.RHYTHMIC_THROTTLE_FAILED_AUTH = "1/min"
    assert close_code(token="not-a-token") == 4401
    # When the same address connects with a valid token it had not used before
    # Then it is closed unchecked with 4429, saying when to retry
    assert close_code(token=token) == 4429


def test_a_user_without_the_inference_permission_is_closed_with_4403(live, reader):
    token = Token.objects.create(user=reader).key
    assert close_code(token=token) == 4403


def test_public_inference_lets_a_user_without_the_permission_stream(live, reader, settings):
    settings.RHYTHMIC_PUBLIC_INFERENCE = True
    token = Token.objects.create(user=reader).key
    [answer] = talk([{"op": "predict", "rid": 1, "features": {"km": 1.0}}], token=token)
    assert answer["prediction"] == 0.0


@pytest.fixture
def held(monkeypatch):
    """While held, the connection's worker waits before answering: frames pile up as behind a slow model.
    ``held.batches``: per call of the worker, the number of messages of each frame it was given."""
    gate = threading.Event()
    gate.batches = []
    answer = consumers.answer_frames

    def slow(model, frames):
        gate.batches.append([len(frame) if isinstance(frame, list) else 1 for frame in frames])
        assert gate.wait(10), "the test never released the worker"
        return answer(model, frames)

    monkeypatch.setattr(consumers, "answer_frames", slow)
    yield gate
    gate.set()


def busy_scenario(frames: list, token: str, gate: threading.Event) -> tuple[list, list]:
    """Send ``frames`` while the worker is held; return (the answers sent at once, those after release)."""

    async def scenario():
        communicator = communicator_for(token)
        assert (await communicator.connect())[0]
        for frame in frames:
            await communicator.send_to(text_data=json.dumps(frame))
        at_once = [json.loads(await communicator.receive_from(timeout=10)) for _ in frames[1:]]
        gate.set()
        later = [json.loads(await communicator.receive_from(timeout=10))]
        await communicator.disconnect()
        return at_once, later

    return async_to_sync(scenario)()


def test_frames_beyond_the_inflight_limit_are_refused_busy_at_once(live, token, settings, held):
    # Given a connection that holds at most one waiting frame, and a model slow to answer
    settings.RHYTHMIC_WS_MAX_INFLIGHT = 1
    frames = [{"op": "predict", "rid": i, "features": {"km": 1.0}} for i in range(3)]
    # When three frames arrive before the first is answered
    at_once, later = busy_scenario(frames, token, held)
    # Then the second and third are refused with busy at once, each with its rid
    assert [(a["rid"], a["error"]["code"]) for a in at_once] == [(1, "busy"), (2, "busy")]
    assert "RHYTHMIC_WS_MAX_INFLIGHT" in at_once[0]["error"]["message"]
    # And the first is still answered
    assert later[0]["rid"] == 0
    assert later[0]["prediction"] == 0.0


def test_an_array_refused_busy_is_answered_with_an_array(live, token, settings, held):
    settings.RHYTHMIC_WS_MAX_INFLIGHT = 1
    first = {"op": "predict", "rid": 0, "features": {"km": 1.0}}
    second = [{"op": "predict", "rid": 1, "features": {"km": 1.0}}, {"op": "learn", "rid": 2}]
    [refused], _ = busy_scenario([first, second], token, held)
    assert [(a["rid"], a["error"]["code"]) for a in refused] == [(1, "busy"), (2, "busy")]


def test_the_inflight_limit_frees_up_as_answers_are_sent(live, token, settings):
    # Given a limit of two frames
    settings.RHYTHMIC_WS_MAX_INFLIGHT = 2
    # When a client keeps at most two frames in flight over many round trips
    answers = []
    for i in range(10):
        answers += talk([{"op": "predict", "rid": i, "features": {"km": 1.0}}] * 2, token=token)
    # Then none is refused
    assert all("error" not in a for a in answers)


def test_numbers_no_float_holds_get_an_error_naming_the_field(live, token):
    huge = "1" + "0" * 400
    answers = talk(
        [
            '{"op": "learn", "rid": 1, "features": {"km": 1}, "ground_truth": ' + huge + "}",
            '{"op": "predict", "rid": 2, "features": {"km": 1e400}}',
            {"op": "predict", "rid": 3, "features": {"km": 1.0}},
        ],
        token=token,
    )
    assert [answer.get("error", {}).get("field") for answer in answers] == ["ground_truth", "features.km", None]
    assert not LearnEvent.objects.exists()


def test_waiting_frames_go_to_the_core_together_up_to_the_batch_limit(live, token, settings, held):
    # Given a batch limit of 3 messages and a worker held on the first frame while four more arrive
    settings.RHYTHMIC_MAX_BATCH = 3
    gate, batches = held, held.batches
    one = {"op": "predict", "features": {"km": 1.0}}
    frames = [one, [one, one], one, [one, one], one]

    async def scenario():
        communicator = communicator_for(token)
        assert (await communicator.connect())[0]
        for frame in frames:
            await communicator.send_to(text_data=json.dumps(frame))
        await communicator.receive_nothing(timeout=0.3)  # every frame is queued behind the held first one
        gate.set()
        answers = [json.loads(await communicator.receive_from(timeout=10)) for _ in frames]
        await communicator.disconnect()
        return answers

    answers = async_to_sync(scenario)()

    # Then they go to the core in order, frames whole, several together but never more than 3 messages at once
    assert [size for batch in batches for size in batch] == [1, 2, 1, 2, 1]
    assert all(sum(batch) <= 3 for batch in batches)
    assert any(len(batch) > 1 for batch in batches)
    assert [len(a) if isinstance(a, list) else 1 for a in answers] == [1, 2, 1, 2, 1]
