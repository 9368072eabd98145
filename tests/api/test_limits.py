"""api/limits.py in-process: which cap a route has, and the WSGI middleware's 413 (real servers: tests/processes)."""

import json

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator

from api.limits import body_cap, limit_body, refusal

pytestmark = pytest.mark.django_db


@pytest.fixture
def caps(settings):
    settings.RHYTHMIC_MAX_JSON_BYTES = 100
    settings.RHYTHMIC_MAX_ARTIFACT_BYTES = 10_000
    settings.RHYTHMIC_MAX_DATASET_BYTES = 10_000  # no larger than the artifact cap unless a test says so
    return settings


@pytest.mark.parametrize(
    "path", ["/api/v1/models/m/versions/", "/api/model", "/api/model/m", "/models/m/versions/new/"]
)
def test_the_routes_that_upload_an_artifact_take_the_artifact_cap(caps, path):
    cap, setting = body_cap(path)
    assert setting == "RHYTHMIC_MAX_ARTIFACT_BYTES"
    assert cap > caps.RHYTHMIC_MAX_ARTIFACT_BYTES  # room for a multipart form around the largest artifact


@pytest.mark.parametrize("path", ["/api/v1/datasets/", "/datasets/new/", "/admin/catalogue/dataset/add/"])
def test_the_routes_that_upload_a_dataset_take_the_dataset_cap(caps, path):
    caps.RHYTHMIC_MAX_DATASET_BYTES = 5_000
    cap, setting = body_cap(path)
    assert setting == "RHYTHMIC_MAX_DATASET_BYTES"
    assert cap > 5_000  # room for a multipart form around the largest file


def test_a_path_the_server_does_not_tell_gets_the_dataset_cap_when_it_is_the_largest(caps):
    caps.RHYTHMIC_MAX_DATASET_BYTES = 50_000
    assert body_cap(None)[1] == "RHYTHMIC_MAX_DATASET_BYTES"


@pytest.mark.parametrize("path", ["/api/v1/models/m/predict", "/api/learn", "/api/v1/models/", "/api/nowhere"])
def test_every_other_route_takes_the_json_cap(caps, path):
    assert body_cap(path) == (100, "RHYTHMIC_MAX_JSON_BYTES")


def test_a_path_the_server_does_not_tell_gets_the_largest_cap(caps):
    assert body_cap(None)[1] == "RHYTHMIC_MAX_ARTIFACT_BYTES"
    assert refusal(path=None, length=5000) is None


def test_a_json_body_over_the_cap_answers_413_in_the_api_shape(caps, client):
    # Given a body of 101 bytes to a JSON route capped at 100
    response = client.post("/api/v1/models/m/predict", data="x" * 101, content_type="application/json")
    # Then the middleware refuses it in the API's error shape, naming the setting
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert "101 bytes" in error["message"]
    assert "RHYTHMIC_MAX_JSON_BYTES" in error["message"]
    assert response["Content-Length"] == str(len(response.content))


def test_a_json_body_at_the_cap_goes_through(caps, client):
    response = client.post("/api/v1/models/m/predict", data="x" * 100, content_type="application/json")
    assert response.status_code != 413


def http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {"type": "http", "method": "POST", "path": path, "headers": headers, "query_string": b""}


class BodyReader:
    """An inner ASGI app that reads the whole body, then answers 200; it notes what it received."""

    def __init__(self):
        self.messages: list[dict] = []

    async def __call__(self, scope, receive, send):
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "http.disconnect":
                return
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@async_to_sync
async def converse(app, scope: dict, chunks: list[bytes]) -> list[dict]:
    communicator = ApplicationCommunicator(app, scope)
    for index, chunk in enumerate(chunks):
        await communicator.send_input({"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1})
    start = await communicator.receive_output(5)
    body = await communicator.receive_output(5)
    await communicator.wait(5)
    return [start, body]


def test_the_asgi_wrapper_refuses_a_declared_length_without_reading_the_body(caps):
    inner = BodyReader()
    start, body = converse(limit_body(inner), http_scope("/api/learn", [(b"content-length", b"101")]), [])
    assert start["status"] == 413
    assert json.loads(body["body"])["error"]["code"] == "too_large"
    assert inner.messages == []  # the application never ran, nothing was read


def test_the_asgi_wrapper_stops_a_chunked_body_once_it_passes_the_cap(caps):
    inner = BodyReader()
    start, body = converse(limit_body(inner), http_scope("/api/learn", []), [b"x" * 60, b"x" * 60, b"x" * 60])
    assert start["status"] == 413
    assert "chunked" in json.loads(body["body"])["error"]["message"]
    assert inner.messages[-1] == {"type": "http.disconnect"}  # Django stops reading and answers nothing


def test_the_asgi_wrapper_passes_a_body_within_the_cap(caps):
    inner = BodyReader()
    start, _ = converse(limit_body(inner), http_scope("/api/learn", []), [b"x" * 50, b"x" * 50])
    assert start["status"] == 200
