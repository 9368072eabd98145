"""One error shape everywhere: every error path of REST, chantilly routes, batch items and WebSocket frames
answers ``{"error": {"code", "message", "field", "details"?}}`` (plus the frame's ``rid`` or ``type``)."""

import json

import dill
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import RequestFactory
from rest_framework.authtoken.models import Token
from river import linear_model, preprocessing

from api.errors import server_error
from catalogue import services
from rhythmic.asgi import application
from tests import factories
from tests.conftest import client_for

# The sockets read the database through database_sync_to_async: these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")
TIMEOUT = 5.0


def assert_one_shape(body, *frame_keys: str) -> dict:
    """The error of ``body``, once it is known to have exactly the one shape; ``frame_keys``: a frame's extras."""
    assert isinstance(body, dict), body
    assert set(body) == {"error", *frame_keys}, body
    error = body["error"]
    assert {"code", "message", "field"} <= set(error) <= {"code", "message", "field", "details"}, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["field"] is None or isinstance(error["field"], str), error
    return error


@pytest.fixture
def live(db):
    model = factories.MLModelFactory(name="taxi")
    version = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    )
    services.deployment_promote(version=version)
    return model


@pytest.fixture
def token(maintainer) -> str:
    return Token.objects.get_or_create(user=maintainer)[0].key


# --- REST ------------------------------------------------------------------------------------------

PREDICT = "/api/v1/models/taxi/predict"


def test_rest_error_paths_answer_the_one_shape(live, maintainer_client, reader_client, anon_client, settings):
    cases = [
        # (response, status, code)
        (maintainer_client.post(PREDICT, [], format="json"), 400, "invalid"),
        (maintainer_client.post(PREDICT, {"features": "bad"}, format="json"), 400, "invalid"),
        (maintainer_client.post(PREDICT, "{", content_type="application/json"), 400, "parse_error"),
        (maintainer_client.post("/api/v1/models/", {"name": "taxi", "flavor": "regression"}), 409, "conflict"),
        (maintainer_client.post("/api/v1/models/", {"name": ["x"]}, format="json"), 400, "invalid"),
        (maintainer_client.post("/api/v1/models/nope/predict", {"features": {}}, format="json"), 404, "not_found"),
        (maintainer_client.get("/api/v1/models/taxi/versions/9/"), 404, "not_found"),
        (maintainer_client.put("/api/nowhere", {}), 404, "not_found"),
        (maintainer_client.delete(PREDICT), 405, "method_not_allowed"),
        (anon_client.get("/api/v1/models/"), 401, "not_authenticated"),
        (reader_client.post(PREDICT, {"features": {}}, format="json"), 403, "permission_denied"),
        (maintainer_client.get("/api/v1/models/taxi%00/"), 400, "invalid"),
    ]
    settings.RHYTHMIC_MAX_JSON_BYTES = 100
    cases.append((maintainer_client.post(PREDICT, "x" * 101, content_type="application/json"), 413, "too_large"))
    settings.RHYTHMIC_MAX_JSON_BYTES = 4 * 1024 * 1024
    settings.RHYTHMIC_THROTTLE_USER = "1/min"
    maintainer_client.get("/api/v1/models/")
    cases.append((maintainer_client.get("/api/v1/models/"), 429, "throttled"))
    for response, status, code in cases:
        assert response.status_code == status, response.content
        assert assert_one_shape(response.json())["code"] == code


def test_a_validation_error_keeps_its_details_and_names_its_field(live, maintainer_client):
    response = maintainer_client.post("/api/v1/models/", {"name": "other", "flavor": ["x"]}, format="json")
    error = assert_one_shape(response.json())
    assert (response.status_code, error["field"]) == (400, "flavor")
    assert "flavor" in error["details"]


def test_a_server_failure_under_the_api_answers_the_one_shape():
    response = server_error(RequestFactory().get("/api/v1/models/"))
    assert response.status_code == 500
    assert assert_one_shape(json.loads(response.content))["code"] == "server_error"


# --- chantilly's routes ------------------------------------------------------------------------------


def test_chantilly_error_paths_answer_the_one_shape(db, maintainer_client, reader_client, anon_client):
    cases = [
        (maintainer_client.get("/api/init"), 400, "no_flavor"),
        (maintainer_client.post("/api/init", {"flavor": "clustering"}, format="json"), 400, "invalid"),
        (reader_client.post("/api/init", {"flavor": "regression"}, format="json"), 403, "permission_denied"),
        (anon_client.get("/api/models"), 401, "not_authenticated"),
    ]
    maintainer_client.post("/api/init", {"flavor": "regression"}, format="json")
    cases += [
        (maintainer_client.post("/api/predict", {"features": {"x": 1}}, format="json"), 404, "not_found"),
        (maintainer_client.post("/api/model/m", b"", content_type="application/octet-stream"), 400, "invalid"),
        (
            maintainer_client.post("/api/model/m", b"junk", content_type="application/octet-stream"),
            400,
            "invalid_model",
        ),
        (maintainer_client.get("/api/stream/events"), 501, "needs_asgi"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.content
        assert assert_one_shape(response.json())["code"] == code


# --- batch items ---------------------------------------------------------------------------------------


def test_failed_batch_items_hold_the_one_shape_and_nothing_else(live, maintainer_client):
    predicted = maintainer_client.post(
        "/api/v1/models/taxi/predict-many", [{"features": {"km": 1}}, {"features": "bad"}, "junk"], format="json"
    ).json()["results"]
    learned = maintainer_client.post(
        "/api/v1/models/taxi/learn-many", [{"id": "never", "ground_truth": 1}], format="json"
    ).json()["results"]
    assert "error" not in predicted[0]
    assert [assert_one_shape(item)["code"] for item in (*predicted[1:], *learned)] == [
        "invalid",
        "invalid",
        "not_found",
    ]


# --- WebSocket frames ------------------------------------------------------------------------------------


def _answers(path: str, token: str, frames: list[dict | str]) -> list:
    async def scenario() -> list:
        headers = [ORIGIN, (b"authorization", f"Token {token}".encode())]
        communicator = WebsocketCommunicator(application, path, headers=headers)
        accepted, _ = await communicator.connect(TIMEOUT)
        assert accepted
        answers = []
        for frame in frames:
            if isinstance(frame, str):
                await communicator.send_to(text_data=frame)
            else:
                await communicator.send_json_to(frame)
            answers.append(await communicator.receive_json_from(TIMEOUT))
        await communicator.disconnect()
        return answers

    return async_to_sync(scenario)()


def test_streaming_inference_errors_are_the_one_shape_with_their_rid(live, token):
    answers = _answers(
        "/ws/models/taxi/infer/",
        token,
        [
            {"op": "nope", "rid": 1},
            "{not json",
            {"op": "predict", "rid": 2, "features": "bad"},
            {"op": "learn", "rid": 3, "id": "never", "ground_truth": 1.0},
        ],
    )
    assert [assert_one_shape(answer, "rid")["code"] for answer in answers] == [
        "invalid",
        "invalid",
        "invalid",
        "not_found",
    ]
    assert [answer["rid"] for answer in answers] == [1, None, 2, 3]


def test_streaming_inference_to_an_unknown_model_answers_the_one_shape(live, token):
    [answer] = _answers("/ws/models/nope/infer/", token, [{"op": "predict", "rid": "a", "features": {}}])
    assert assert_one_shape(answer, "rid")["code"] == "not_found"


def test_live_socket_errors_are_the_one_shape_with_their_type(live, token):
    answers = _answers("/ws/events/", token, [{"type": "hello"}, "{not json"])
    assert [assert_one_shape(answer, "type")["code"] for answer in answers] == ["invalid", "invalid"]
    assert {answer["type"] for answer in answers} == {"error"}


def test_a_live_socket_on_an_unknown_model_says_so_in_the_one_shape(db, token):
    async def scenario() -> dict:
        headers = [ORIGIN, (b"authorization", f"Token {token}".encode())]
        communicator = WebsocketCommunicator(application, "/ws/models/nope/metrics/", headers=headers)
        await communicator.connect(TIMEOUT)
        message = await communicator.receive_json_from(TIMEOUT)
        await communicator.disconnect()
        return message

    message = async_to_sync(scenario)()
    assert (message["type"], assert_one_shape(message, "type")["code"]) == ("error", "not_found")


def test_a_reader_gets_the_same_shape_from_a_chantilly_write_as_from_rest(db, reader):
    # A user without the permission: both refusals name it, in the same shape
    client = client_for(reader)
    chantilly = client.post("/api/model/m", b"x", content_type="application/octet-stream")
    rest = client.post("/api/v1/models/", {"name": "m", "flavor": "regression"}, format="json")
    assert (chantilly.status_code, rest.status_code) == (403, 403)
    assert assert_one_shape(chantilly.json())["code"] == assert_one_shape(rest.json())["code"] == "permission_denied"
