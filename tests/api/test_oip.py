"""The Open Inference Protocol under /v2: metadata, readiness, infer equal to the REST API, learn, every error."""

import json
import struct

import dill
import numpy as np
import pytest
from river import linear_model, preprocessing

from catalogue import services
from tests import factories
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

ROWS = [{"km": 1.0, "city": "Paris"}, {"km": 2.5, "city": "Lyon"}, {"km": 4.0, "city": "Paris"}]


def trained_regressor():
    model = preprocessing.StandardScaler() | linear_model.LinearRegression()
    for i in range(20):
        model.learn_one({"km": float(i)}, 3.0 * i + 1.0)
    return model


def trained_classifier():
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    for i in range(20):
        model.learn_one({"km": float(i)}, i > 9)
    return model


def deploy(name: str, obj, flavor: str = "regression", input_example=None):
    model = factories.MLModelFactory(name=name, flavor=flavor)
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj), input_example=input_example)
    services.deployment_promote(version=version)
    return model, version


@pytest.fixture
def taxi():
    return deploy("taxi", trained_regressor(), input_example={"km": 1.0, "city": "Paris"})


@pytest.fixture
def churn():
    return deploy("churn", trained_classifier(), flavor="binary", input_example={"km": 1.0})


def columns(rows: list[dict]) -> list[dict]:
    """One OIP input per feature of ``rows``."""
    inputs = []
    for name in rows[0]:
        values = [row[name] for row in rows]
        datatype = "BYTES" if isinstance(values[0], str) else "FP64"
        inputs.append({"name": name, "datatype": datatype, "shape": [len(values)], "data": values})
    return inputs


def infer(client, name: str, body: dict, version: int | None = None):
    route = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/infer"
    return client.post(route, body, format="json")


def rest_predictions(client, name: str, rows: list[dict]) -> list:
    answer = client.post(f"/api/v1/models/{name}/predict-many", [{"features": r} for r in rows], format="json")
    return [r["prediction"] for r in answer.json()["results"]]


def output(body: dict, name: str) -> dict:
    return next(o for o in body["outputs"] if o["name"] == name)


def test_server_metadata_and_health_answer_without_credentials(anon_client):
    assert anon_client.get("/v2").json() == {
        "name": "rhythmic",
        "version": "1.0.0",
        "extensions": ["binary_tensor_data", "rhythmic_learn"],
    }
    assert anon_client.get("/v2/health/live").json() == {"live": True}
    assert anon_client.get("/v2/health/ready").json() == {"ready": True}


def test_model_metadata_names_the_inputs_after_the_input_example(reader_client, taxi):
    answer = reader_client.get("/v2/models/taxi")
    assert answer.status_code == 200
    assert answer.json() == {
        "name": "taxi",
        "versions": ["1"],
        "platform": "rhythmic/regression",
        "inputs": [
            {"name": "km", "datatype": "FP64", "shape": [-1]},
            {"name": "city", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [{"name": "prediction", "datatype": "FP64", "shape": [-1]}],
    }
    assert reader_client.get("/v2/models/taxi/versions/1").json() == answer.json()


def test_model_metadata_of_a_version_that_is_not_live_lists_only_live_versions(reader_client, taxi):
    model, _ = taxi
    factories.ModelVersionFactory(model=model, input_example={"distance": 3})
    answer = reader_client.get("/v2/models/taxi/versions/2").json()
    assert answer["versions"] == ["1"]
    assert answer["inputs"] == [{"name": "distance", "datatype": "INT64", "shape": [-1]}]


def test_batched_infer_equals_the_rest_predictions(maintainer_client, taxi):
    # Given three rows sent as one tensor per feature
    answer = infer(maintainer_client, "taxi", {"id": "req-1", "inputs": columns(ROWS)})
    # Then the outputs are the REST API's predictions of the same rows, and the id is echoed
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["model_name"] == "taxi"
    assert body["model_version"] == "1"
    assert body["id"] == "req-1"
    prediction = output(body, "prediction")
    assert prediction["datatype"] == "FP64"
    assert prediction["shape"] == [3]
    expected = rest_predictions(maintainer_client, "taxi", ROWS)
    assert prediction["data"] == pytest.approx(expected, abs=1e-9)
    assert expected[0] != expected[1]  # the rows are not all predicted alike


def test_infer_equals_the_same_river_model_in_process(maintainer_client, taxi):
    # Given the deployed model's twin, the same river pipeline trained alike in this process
    twin = trained_regressor()
    # When the rows are inferred, then each prediction is the twin's
    body = infer(maintainer_client, "taxi", {"inputs": columns(ROWS)}).json()
    assert output(body, "prediction")["data"] == pytest.approx([twin.predict_one(r) for r in ROWS], abs=1e-9)


def test_a_classifier_answers_its_label_and_one_proba_output_per_class(maintainer_client, churn):
    rows = [{"km": 2.0}, {"km": 15.0}]
    answer = infer(maintainer_client, "churn", {"inputs": columns(rows)})
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    expected = rest_predictions(maintainer_client, "churn", rows)
    assert output(body, "prediction") == {"name": "prediction", "datatype": "BOOL", "shape": [2], "data": [False, True]}
    assert output(body, "proba_True")["data"] == pytest.approx([p["True"] for p in expected], abs=1e-9)
    assert output(body, "proba_False")["data"] == pytest.approx([p["False"] for p in expected], abs=1e-9)


def test_requested_outputs_are_the_only_ones_sent(maintainer_client, churn):
    body = {"inputs": columns([{"km": 2.0}]), "outputs": [{"name": "proba_True"}]}
    answer = infer(maintainer_client, "churn", body).json()
    assert [o["name"] for o in answer["outputs"]] == ["proba_True"]


def test_rows_of_an_infer_with_an_id_learn_by_that_id(maintainer_client, taxi):
    # Given an infer request with an id
    predicted = infer(maintainer_client, "taxi", {"id": "r7", "inputs": columns(ROWS[:2])}).json()
    # When its ground truths are learned through the extension, by the request id
    learned = maintainer_client.post(
        "/v2/models/taxi/learn",
        {"id": "r7", "inputs": [{"name": "ground_truth", "datatype": "FP64", "shape": [2], "data": [4.0, 8.5]}]},
        format="json",
    )
    # Then each row learned, with the prediction it was given
    assert learned.status_code == 200, learned.json()
    assert learned.json()["id"] == "r7"
    assert output(learned.json(), "seq")["data"] == [1, 2]
    metrics = maintainer_client.get("/api/v1/models/taxi/metrics").json()
    errors = [
        abs(4.0 - output(predicted, "prediction")["data"][0]),
        abs(8.5 - output(predicted, "prediction")["data"][1]),
    ]
    assert metrics["metrics"]["MAE"] == pytest.approx(sum(errors) / 2, abs=1e-9)
    # And an id is consumed by its first learn
    again = maintainer_client.post(
        "/v2/models/taxi/learn",
        {"id": "r7", "inputs": [{"name": "ground_truth", "datatype": "FP64", "shape": [2], "data": [4.0, 8.5]}]},
        format="json",
    )
    assert again.status_code == 409
    assert again.json()["error"].startswith("row 0 (id): id 'r7:0' was already learned")


def test_a_row_kept_by_infer_learns_through_the_rest_api_by_its_row_id(maintainer_client, taxi):
    infer(maintainer_client, "taxi", {"id": "batch", "inputs": columns(ROWS)})
    learned = maintainer_client.post(
        "/api/v1/models/taxi/learn", {"id": "batch:2", "ground_truth": 13.0}, format="json"
    )
    assert learned.status_code == 201, learned.json()


def test_learn_with_feature_tensors_learns_each_row(maintainer_client, taxi):
    inputs = [*columns(ROWS), {"name": "ground_truth", "datatype": "FP64", "shape": [3], "data": [1.0, 2.0, 3.0]}]
    learned = maintainer_client.post("/v2/models/taxi/learn", {"inputs": inputs}, format="json")
    assert learned.status_code == 200, learned.json()
    assert output(learned.json(), "seq")["data"] == [1, 2, 3]
    assert maintainer_client.get("/api/v1/models/taxi/metrics").json()["n_learned"] == 3


def test_a_challenger_answers_when_its_version_is_named(maintainer_client, taxi):
    model, _ = taxi
    challenger = factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor(5.0)))
    services.challenger_add(version=challenger)
    answer = infer(maintainer_client, "taxi", {"inputs": columns(ROWS[:1])}, version=2).json()
    assert answer["model_version"] == "2"
    assert output(answer, "prediction")["data"] == [5.0]
    assert maintainer_client.get("/v2/models/taxi/versions/2/ready").json() == {"name": "taxi", "ready": True}
    assert maintainer_client.get("/v2/models/taxi").json()["versions"] == ["1", "2"]


def test_binary_tensors_in_and_out(maintainer_client, taxi):
    # Given Triton's binary form: the JSON header, then each input's little-endian bytes
    km = np.array([1.0, 2.5], dtype=np.float32)
    cities = b"".join(struct.pack("<I", len(c)) + c for c in (b"Paris", b"Lyon"))
    header = json.dumps(
        {
            "inputs": [
                {"name": "km", "datatype": "FP32", "shape": [2, 1], "parameters": {"binary_data_size": km.nbytes}},
                {"name": "city", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": len(cities)}},
            ],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    answer = maintainer_client.post(
        "/v2/models/taxi/infer",
        header + km.tobytes() + cities,
        content_type="application/octet-stream",
        HTTP_INFERENCE_HEADER_CONTENT_LENGTH=str(len(header)),
    )
    # Then the outputs come back as bytes after a JSON header of the length the response names
    assert answer.status_code == 200, answer.content
    length = int(answer["Inference-Header-Content-Length"])
    meta = json.loads(answer.content[:length])
    assert meta["outputs"] == [
        {"name": "prediction", "datatype": "FP64", "shape": [2], "parameters": {"binary_data_size": 16}}
    ]
    predictions = np.frombuffer(answer.content[length:], dtype="<f8").tolist()
    expected = rest_predictions(maintainer_client, "taxi", [{"km": 1.0, "city": "Paris"}, {"km": 2.5, "city": "Lyon"}])
    assert predictions == pytest.approx(expected, abs=1e-9)


# --- errors: the protocol's {"error": "..."} ---------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "status", "message"),
    [
        ("/v2/models/nope", 404, "no model named 'nope'"),
        ("/v2/models/nope/ready", 404, "no model named 'nope'"),
        ("/v2/models/taxi/versions/9", 404, "taxi has no version 9"),
        ("/v2/models/taxi/versions/9/ready", 404, "taxi has no version 9"),
        ("/v2/models/taxi/versions/one", 400, "a model version is a whole number, not 'one'"),
        ("/v2/nothing/here", 404, "no Open Inference Protocol route GET /v2/nothing/here"),
    ],
)
def test_unknown_models_versions_and_routes(maintainer_client, taxi, route, status, message):
    answer = maintainer_client.get(route)
    assert answer.status_code == status
    assert answer.json() == {"error": message}


def test_a_version_that_is_not_live_is_not_ready_and_does_not_infer(maintainer_client, taxi):
    model, _ = taxi
    factories.ModelVersionFactory(model=model)
    ready = maintainer_client.get("/v2/models/taxi/versions/2/ready")
    assert ready.status_code == 409
    assert "taxi v2 is not live" in ready.json()["error"]
    assert infer(maintainer_client, "taxi", {"inputs": columns(ROWS)}, version=2).status_code == 409


def test_a_model_without_production_is_not_ready(maintainer_client):
    factories.MLModelFactory(name="empty")
    answer = maintainer_client.get("/v2/models/empty/ready")
    assert answer.status_code == 409
    assert answer.json() == {"error": "empty has no production version: upload a version and promote it"}
    refused = infer(maintainer_client, "empty", {"inputs": columns(ROWS)})
    assert refused.status_code == 409
    assert refused.json() == answer.json()


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (None, "inputs must be a non-empty list of tensors"),
        ([{"name": "km", "datatype": "FP128", "shape": [1], "data": [1.0]}], "input 'km' has datatype 'FP128'"),
        ([{"name": "km", "datatype": "FP64", "shape": [2], "data": [1.0]}], "input 'km' has shape [2] but 1 values"),
        ([{"name": "km", "datatype": "FP64", "shape": [1, 2], "data": [1.0, 2.0]}], "each input is one feature"),
        ([{"name": "km", "datatype": "FP64", "shape": [1], "data": ["far"]}], "input 'km' is FP64 but holds 'far'"),
        ([{"name": "km", "datatype": "INT8", "shape": [1], "data": [300]}], "input 'km' is INT8 but holds 300"),
        ([{"name": "km", "datatype": "FP64", "shape": [1], "data": [1.0]}], "missing input 'city'"),
        ([{"name": "km", "datatype": "FP64", "shape": [0], "data": []}], "the inputs hold no rows"),
        (
            [
                {"name": "km", "datatype": "FP64", "shape": [2], "data": [1.0, 2.0]},
                {"name": "city", "datatype": "BYTES", "shape": [1], "data": ["Paris"]},
            ],
            "input 'city' has 1 rows but 'km' has 2",
        ),
    ],
)
def test_bad_tensors_get_a_400_that_says_what_to_fix(maintainer_client, taxi, inputs, message):
    answer = infer(maintainer_client, "taxi", {"inputs": inputs})
    assert answer.status_code == 400
    assert set(answer.json()) == {"error"}
    assert message in answer.json()["error"]


def test_a_binary_size_past_the_body_is_refused(maintainer_client, taxi):
    header = json.dumps(
        {"inputs": [{"name": "km", "datatype": "FP64", "shape": [1], "parameters": {"binary_data_size": 80}}]}
    ).encode()
    answer = maintainer_client.post(
        "/v2/models/taxi/infer",
        header + b"\0" * 8,
        content_type="application/octet-stream",
        HTTP_INFERENCE_HEADER_CONTENT_LENGTH=str(len(header)),
    )
    assert answer.status_code == 400
    assert "binary_data_size 80, but 8 bytes" in answer.json()["error"]


def test_bad_json_and_unknown_outputs_are_refused(maintainer_client, taxi):
    bad = maintainer_client.post("/v2/models/taxi/infer", b"{not json", content_type="application/json")
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("JSON parse error")
    unknown = infer(maintainer_client, "taxi", {"inputs": columns(ROWS), "outputs": [{"name": "score"}]})
    assert unknown.status_code == 400
    assert unknown.json() == {"error": "no output named 'score'; this model has: prediction"}


def test_a_forecasting_model_is_sent_to_the_rest_predict(maintainer_client):
    from river import time_series

    deploy("sales", time_series.HoltWinters(alpha=0.3), flavor="forecasting")
    answer = infer(maintainer_client, "sales", {"inputs": columns([{"x": 1.0}])})
    assert answer.status_code == 400
    assert "forecasting model" in answer.json()["error"]


def test_learn_refuses_features_beside_an_id_and_an_unknown_id(maintainer_client, taxi):
    truth = {"name": "ground_truth", "datatype": "FP64", "shape": [1], "data": [1.0]}
    both = maintainer_client.post(
        "/v2/models/taxi/learn", {"id": "x", "inputs": [*columns(ROWS[:1]), truth]}, format="json"
    )
    assert both.status_code == 400
    assert "send only the ground_truth tensor" in both.json()["error"]
    unknown = maintainer_client.post("/v2/models/taxi/learn", {"id": "never", "inputs": [truth]}, format="json")
    assert unknown.status_code == 404
    assert unknown.json()["error"].startswith("row 0 (id): no pending prediction with id 'never:0'")
    neither = maintainer_client.post("/v2/models/taxi/learn", {"inputs": [truth]}, format="json")
    assert neither.status_code == 400


def test_a_refused_row_says_which_rows_were_learned_all_the_same(maintainer_client, churn):
    inputs = [
        {"name": "km", "datatype": "FP64", "shape": [2], "data": [1.0, 2.0]},
        {"name": "ground_truth", "datatype": "INT64", "shape": [2], "data": [1, 2]},
    ]
    answer = maintainer_client.post("/v2/models/churn/learn", {"inputs": inputs}, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("row 1 (ground_truth):")
    assert answer.json()["error"].endswith("rows learned all the same: 0 (seq 1)")


def test_unauthenticated_clients_get_401_and_readers_may_not_infer(anon_client, reader_client, taxi):
    body = {"inputs": columns(ROWS)}
    for response in (anon_client.get("/v2/models/taxi"), infer(anon_client, "taxi", body)):
        assert response.status_code == 401
        assert set(response.json()) == {"error"}
    refused = infer(reader_client, "taxi", body)
    assert refused.status_code == 403
    assert refused.json() == {"error": "predict and learn need the catalogue.infer_mlmodel permission"}
    learn = reader_client.post("/v2/models/taxi/learn", body, format="json")
    assert learn.status_code == 403


def test_the_rest_apis_throttle_counts_protocol_requests(maintainer_client, taxi, settings):
    settings.RHYTHMIC_THROTTLE_USER = "2/min"
    assert maintainer_client.get("/api/v1/models/taxi/metrics").status_code == 200
    assert infer(maintainer_client, "taxi", {"inputs": columns(ROWS)}).status_code == 200
    throttled = infer(maintainer_client, "taxi", {"inputs": columns(ROWS)})
    assert throttled.status_code == 429
    assert throttled.json()["error"].startswith("Request was throttled.")
    assert "Retry-After" in throttled


def test_a_model_deployed_to_another_location_is_refused_with_its_location(maintainer_client, taxi, settings):
    settings.RHYTHMIC_LOCATION = "edge"
    answer = infer(maintainer_client, "taxi", {"inputs": columns(ROWS)})
    assert answer.status_code == 421
    assert "this server process serves location 'edge' only" in answer.json()["error"]


def test_a_form_from_a_browser_session_is_refused_with_a_400(maintainer, taxi):
    from django.test import Client

    # Given a browser session whose CSRF check reads a multipart form (its token is a form field) before the view
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(maintainer)
    secret = "a" * 32
    browser.cookies["csrftoken"] = secret
    answer = browser.post("/v2/models/taxi/infer", {"csrfmiddlewaretoken": secret, "inputs": "km"})
    assert answer.status_code == 400
    assert answer.json() == {"error": 'send the body as JSON (or binary tensors), not a form: {"inputs": [...]}'}


def test_public_inference_lets_anyone_infer(anon_client, taxi, settings):
    settings.RHYTHMIC_PUBLIC_INFERENCE = True
    assert infer(anon_client, "taxi", {"inputs": columns(ROWS)}).status_code == 200


def test_a_user_with_the_infer_permission_only_may_infer(taxi):
    user = factories.UserFactory(username="scorer", permissions=["infer_mlmodel"])
    assert infer(client_for(user), "taxi", {"inputs": columns(ROWS)}).status_code == 200


def test_a_server_error_under_v2_answers_in_the_protocols_shape(rf):
    from api.errors import server_error

    answer = server_error(rf.post("/v2/models/taxi/infer"))
    assert answer.status_code == 500
    assert json.loads(answer.content) == {"error": "the server failed; the error was logged"}
