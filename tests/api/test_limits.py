"""api/limits.py in-process: which cap a route has, and the WSGI middleware's 413 (real servers: tests/processes)."""

import pytest

from api.limits import body_cap, refusal

pytestmark = pytest.mark.django_db


@pytest.fixture
def caps(settings):
    settings.RHYTHMIC_MAX_JSON_BYTES = 100
    settings.RHYTHMIC_MAX_ARTIFACT_BYTES = 10_000
    return settings


@pytest.mark.parametrize(
    "path", ["/api/v1/models/m/versions/", "/api/model", "/api/model/m", "/models/m/versions/new/"]
)
def test_the_routes_that_upload_an_artifact_take_the_artifact_cap(caps, path):
    cap, setting = body_cap(path)
    assert setting == "RHYTHMIC_MAX_ARTIFACT_BYTES"
    assert cap > caps.RHYTHMIC_MAX_ARTIFACT_BYTES  # room for a multipart form around the largest artifact


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
