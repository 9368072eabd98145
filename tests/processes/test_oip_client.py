"""Triton's own client (tritonclient[http]) against a real server process: health, metadata, batched infer equal
to the REST API's predictions, binary and JSON tensors, and learning through Rhythmic's extension.

The server is `make run`'s, on the test database (Postgres) or on a freshly migrated SQLite file of its own.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import requests
import tritonclient.http as triton
from rest_framework.authtoken.models import Token
from river import compose, linear_model, preprocessing
from tritonclient.utils import InferenceServerException

from tests import factories
from tests.conftest import ALL_PERMISSIONS, is_postgres
from tests.processes.conftest import ROOT, Server, database_url

pytestmark = pytest.mark.slow

OPERATOR = """
from rest_framework.authtoken.models import Token
from tests import factories
from tests.conftest import ALL_PERMISSIONS
user = factories.UserFactory(username="operator", permissions=ALL_PERMISSIONS)
print(Token.objects.create(user=user).key)
"""
ROWS = [{"km": 1.0, "city": "Paris"}, {"km": 3.5, "city": "Lyon"}, {"km": 7.25, "city": "Paris"}]


@pytest.fixture
def site(transactional_db, tmp_path):
    """(server URL, REST session with an operator's token): Postgres' test database, or a SQLite file."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "rhythmic.settings", "RHYTHMIC_LOG_LEVEL": "WARNING"}
    env["CELERY_TASK_ALWAYS_EAGER"] = "1"  # validation runs in the server: a version is ready to promote
    if is_postgres():
        env["DATABASE_URL"] = database_url()
        user = factories.UserFactory(username="operator", permissions=ALL_PERMISSIONS)
        key = Token.objects.create(user=user).key
    else:
        env.pop("DATABASE_URL", None)
        env["RHYTHMIC_VAR_DIR"] = str(tmp_path)
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        shell = subprocess.run([*manage, "shell", "-c", OPERATOR], cwd=ROOT, env=env, check=True, capture_output=True)
        key = shell.stdout.decode().split()[-1]
    server = Server(env, tmp_path / "server.log").start()
    session = requests.Session()
    session.headers["Authorization"] = f"Token {key}"
    try:
        yield server.url, session
    finally:
        session.close()
        server.stop()


def features():
    """km scaled and city one-hot encoded: a model that takes the rows' number and text."""
    return (compose.Select("km") | preprocessing.StandardScaler()) + (
        compose.Select("city") | preprocessing.OneHotEncoder()
    )


def regressor():
    return features() | linear_model.LinearRegression()


def deploy(url: str, session: requests.Session, name: str, flavor: str, obj, example: dict, truths: list) -> None:
    """Create, upload (with its input example), promote, then learn ``truths`` on ROWS through the REST API."""
    api = f"{url}/api/v1/models/"
    steps = [
        session.post(api, json={"name": name, "flavor": flavor}, timeout=30),
        session.post(
            f"{api}{name}/versions/",
            params={"input_example": json.dumps(example)},
            data=factories.artifact_bytes(obj),
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        ),
        session.post(f"{api}{name}/versions/1/promote", json={}, timeout=30),
        session.post(
            f"{api}{name}/learn-many",
            json=[{"features": row, "ground_truth": truth} for row, truth in zip(ROWS, truths, strict=True)],
            timeout=30,
        ),
    ]
    for response in steps:
        assert response.status_code < 300, response.text


def rest_predictions(url: str, session: requests.Session, name: str) -> list:
    answer = session.post(f"{url}/api/v1/models/{name}/predict-many", json=[{"features": r} for r in ROWS], timeout=30)
    assert answer.status_code == 200, answer.text
    return [r["prediction"] for r in answer.json()["results"]]


def client_for(url: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url.removeprefix("http://"))


def inputs(binary: bool = True) -> list:
    km = triton.InferInput("km", [len(ROWS)], "FP64")
    km.set_data_from_numpy(np.array([r["km"] for r in ROWS], dtype=np.float64), binary_data=binary)
    city = triton.InferInput("city", [len(ROWS)], "BYTES")
    city.set_data_from_numpy(np.array([r["city"].encode() for r in ROWS], dtype=np.object_), binary_data=binary)
    return [km, city]


def test_tritonclient_reads_health_and_metadata(site):
    url, session = site
    deploy(url, session, "taxi", "regression", regressor(), {"km": 1.0, "city": "Paris"}, [3, 8, 15])
    client = client_for(url)
    token = {"Authorization": session.headers["Authorization"]}
    assert client.is_server_live()
    assert client.is_server_ready()
    server = client.get_server_metadata()
    assert server["name"] == "rhythmic"
    assert "rhythmic_learn" in server["extensions"]
    assert client.is_model_ready("taxi", headers=token)
    assert client.is_model_ready("taxi", "1", headers=token)
    assert not client.is_model_ready("nope", headers=token)
    metadata = client.get_model_metadata("taxi", headers=token)
    assert metadata["versions"] == ["1"]
    assert [(i["name"], i["datatype"]) for i in metadata["inputs"]] == [("km", "FP64"), ("city", "BYTES")]
    with pytest.raises(InferenceServerException, match="Authentication credentials were not provided"):
        client.get_model_metadata("taxi")
    client.close()


@pytest.mark.parametrize("binary", [True, False], ids=["binary tensors", "JSON tensors"])
def test_tritonclient_batched_infer_equals_the_rest_predictions_of_a_regressor(site, binary):
    url, session = site
    deploy(url, session, "taxi", "regression", regressor(), {"km": 1.0, "city": "Paris"}, [3, 8, 15])
    client = client_for(url)
    outputs = None if binary else [triton.InferRequestedOutput("prediction", binary_data=False)]
    result = client.infer(
        "taxi",
        inputs(binary),
        outputs=outputs,
        request_id="r1",
        headers={"Authorization": session.headers["Authorization"]},
    )
    expected = rest_predictions(url, session, "taxi")
    assert result.get_response()["id"] == "r1"
    assert result.get_response()["model_version"] == "1"
    np.testing.assert_allclose(result.as_numpy("prediction"), expected, rtol=0, atol=1e-9)
    assert len(set(expected)) == 3  # the rows are predicted apart: the comparison means something
    client.close()


def test_tritonclient_infers_a_classifier_with_its_probabilities_then_learns_by_request_id(site):
    url, session = site
    classifier = features() | linear_model.LogisticRegression()
    deploy(url, session, "churn", "binary", classifier, {"km": 1.0, "city": "Paris"}, [False, True, True])
    client = client_for(url)
    token = {"Authorization": session.headers["Authorization"]}
    expected = rest_predictions(url, session, "churn")
    # When tritonclient infers the rows with an id
    result = client.infer("churn", inputs(), request_id="batch-1", headers=token)
    # Then the label and each class's probability are the REST API's
    np.testing.assert_allclose(result.as_numpy("proba_True"), [p["True"] for p in expected], rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.as_numpy("proba_False"), [p["False"] for p in expected], rtol=0, atol=1e-9)
    labels = [max(p, key=p.get) == "True" for p in expected]
    assert result.as_numpy("prediction").tolist() == labels
    # And the rows learn through the extension by the request's id, with the predictions they were given
    truth = json.dumps(
        {
            "id": "batch-1",
            "inputs": [{"name": "ground_truth", "datatype": "BOOL", "shape": [3], "data": [True, False, True]}],
        }
    )
    learned = session.post(f"{url}/v2/models/churn/learn", data=truth, timeout=30)
    assert learned.status_code == 200, learned.text
    assert learned.json()["outputs"][0]["data"] == [4, 5, 6]
    metrics = session.get(f"{url}/api/v1/models/churn/metrics", timeout=30).json()
    assert metrics["labels"]["labelled"] == 3
    hits = sum(label == truth for label, truth in zip(labels, [True, False, True], strict=True))
    assert metrics["metrics"]["Accuracy"] == pytest.approx(hits / 3, abs=1e-9)
    client.close()


def test_tritonclient_sees_the_protocol_errors(site):
    url, session = site
    deploy(url, session, "taxi", "regression", regressor(), {"km": 1.0, "city": "Paris"}, [3, 8, 15])
    client = client_for(url)
    token = {"Authorization": session.headers["Authorization"]}
    with pytest.raises(InferenceServerException, match="no model named 'nope'"):
        client.infer("nope", inputs(), headers=token)
    with pytest.raises(InferenceServerException, match="missing input 'city'"):
        client.infer("taxi", inputs()[:1], headers=token)
    with pytest.raises(InferenceServerException, match="Authentication credentials were not provided"):
        client.infer("taxi", inputs())
    client.close()
