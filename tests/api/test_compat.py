"""chantilly 0.3.0's routes and shapes: its clients' flows work unchanged; its 500s are clear 4xx here."""

import logging

import dill
import pytest
from river import linear_model, preprocessing, tree

from catalogue import signals
from catalogue.models import MLModel, ModelVersion
from tests import factories
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def regressor_bytes(intercept: float = 0.0) -> bytes:
    return dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression(intercept_init=intercept))


def upload(client, data: bytes, name: str | None = None):
    path = "/api/model" + (f"/{name}" if name else "")
    return client.post(path, data=data, content_type="application/octet-stream")


@pytest.fixture
def regression(maintainer_client):
    assert maintainer_client.post("/api/init", {"flavor": "regression"}, format="json").status_code == 201
    return maintainer_client


def test_the_chantilly_user_guide_flow(regression):
    client = regression
    # init, then the flavor reads back
    assert client.get("/api/init").json() == {"flavor": "regression"}
    # upload a model: a generated name, and it is the default
    response = upload(client, regressor_bytes())
    assert response.status_code == 201
    name = response.json()["name"]
    assert client.get("/api/models").json() == {"models": [name], "default": name}
    # predict with an id -> 201, without -> 200
    response = client.post("/api/predict", {"id": 42, "features": {"shop": 1.0, "item": 2.0}}, format="json")
    assert response.status_code == 201
    assert response.json() == {"model": name, "prediction": 0.0}
    assert client.post("/api/predict", {"features": {"shop": 1.0}}, format="json").status_code == 200
    # learn by id, and with features
    assert client.post("/api/learn", {"id": 42, "ground_truth": 10.21}, format="json").json() == {}
    response = client.post("/api/learn", {"features": {"shop": 2.0}, "ground_truth": 3.0}, format="json")
    assert response.status_code == 201
    # metrics and stats have chantilly's shapes
    assert set(client.get("/api/metrics").json()) == {"MAE", "RMSE", "SMAPE"}
    stats = client.get("/api/stats").json()
    assert stats["predict"]["n_calls"] == 2
    assert stats["learn"]["n_calls"] == 2
    assert {"mean_duration", "mean_duration_human", "ewm_duration", "ewm_duration_human"} <= set(stats["learn"])
    # the model downloads as dill bytes of its learned state
    response = client.get("/api/model")
    assert response["Content-Type"] == "application/octet-stream"
    assert dill.loads(response.content).predict_one({"shop": 2.0}) != 0.0


def test_named_models_and_the_learn_goes_to_the_model_that_predicted(maintainer_client):
    maintainer_client.post("/api/init", {"flavor": "binary"}, format="json")
    assert upload(maintainer_client, dill.dumps(tree.HoeffdingTreeClassifier()), "barney-stinson").status_code == 201
    assert upload(maintainer_client, dill.dumps(linear_model.LogisticRegression()), "ted").status_code == 201
    response = maintainer_client.post(
        "/api/predict", {"id": "p1", "features": {"x": 1.0}, "model": "barney-stinson"}, format="json"
    )
    assert response.json()["model"] == "barney-stinson"
    assert set(response.json()["prediction"]) <= {"True", "False"}
    # the default is the last upload (ted), but the id belongs to barney-stinson
    maintainer_client.post("/api/learn", {"id": "p1", "ground_truth": True}, format="json")
    assert maintainer_client.get("/api/metrics?model=barney-stinson").json()["Accuracy"] is not None
    import serving

    assert serving.metrics(model="barney-stinson")["n_learned"] == 1
    assert serving.metrics(model="ted")["n_learned"] == 0


def test_uploading_again_to_a_name_adds_a_version_and_promotes_it(regression):
    upload(regression, regressor_bytes(0), "m")
    upload(regression, regressor_bytes(1), "m")
    model = MLModel.objects.get(name="m")
    assert model.production_version.number == 2


def test_init_starts_afresh_but_keeps_the_catalogue(regression):
    upload(regression, regressor_bytes(), "m")
    regression.post("/api/predict", {"id": 1, "features": {"x": 1.0}}, format="json")
    # When the workspace is initialised again
    assert regression.post("/api/init", {"flavor": "binary"}, format="json").status_code == 201
    # Then it is empty, with the new flavor
    assert regression.get("/api/models").json() == {"models": [], "default": None}
    assert regression.get("/api/init").json() == {"flavor": "binary"}
    # And the old model is archived with its version retired, not destroyed
    archived = MLModel.objects.get(name__startswith="m--archived-")
    assert archived.versions.get().status == ModelVersion.Status.RETIRED
    assert not archived.pending_predictions.exists()
    # And the name can be used again with the new flavor
    assert upload(regression, dill.dumps(linear_model.LogisticRegression()), "m").status_code == 201


def test_delete_moves_the_default_and_never_dangles(regression):
    upload(regression, regressor_bytes(0), "a")
    upload(regression, regressor_bytes(1), "b")
    assert regression.delete("/api/model/b").status_code == 204
    assert regression.get("/api/models").json() == {"models": ["a"], "default": "a"}
    assert regression.delete("/api/model/a").status_code == 204
    assert regression.get("/api/models").json() == {"models": [], "default": None}
    assert regression.delete("/api/model/a").status_code == 404


# --- where chantilly answers 500, Rhythmic answers a clear 4xx and changes nothing ---------------


@pytest.mark.parametrize("body", [None, [], ["regression"], {"flavor": "clustering"}, {"nope": 1}])
def test_init_with_a_bad_body_is_a_400(maintainer_client, body):
    response = maintainer_client.post("/api/init", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_get_init_before_any_flavor_is_a_400(maintainer_client):
    response = maintainer_client.get("/api/init")
    assert response.status_code == 400
    assert "POST /api/init" in response.json()["error"]["message"]


def test_upload_before_init_is_a_400(maintainer_client):
    assert upload(maintainer_client, regressor_bytes()).status_code == 400
    assert not MLModel.objects.exists()


@pytest.mark.parametrize("data", [b"", b"garbage", dill.dumps({"not": "a model"})])
def test_garbage_or_empty_uploads_are_a_400_and_store_nothing(regression, data):
    response = upload(regression, data, "m")
    assert response.status_code == 400
    assert response.json()["error"]["message"]
    assert not MLModel.objects.exists()


def test_a_model_lacking_the_flavor_method_is_refused(maintainer_client):
    maintainer_client.post("/api/init", {"flavor": "binary"}, format="json")
    response = upload(maintainer_client, regressor_bytes(), "m")
    assert response.status_code == 400
    assert "binary classification needs a river Classifier" in response.json()["error"]["message"]


def test_an_oversize_upload_is_a_413(regression, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = upload(regression, b"x" * 500, "m")
    assert response.status_code == 413


def test_a_wrong_typed_ground_truth_is_a_400_and_keeps_the_id(regression):
    upload(regression, regressor_bytes())
    regression.post("/api/predict", {"id": 5, "features": {"x": 1.0}}, format="json")
    response = regression.post("/api/learn", {"id": 5, "ground_truth": "ten"}, format="json")
    assert response.status_code == 400
    assert regression.post("/api/learn", {"id": 5, "ground_truth": 10}, format="json").status_code == 201


def test_a_second_learn_with_the_same_id_is_a_409(regression):
    upload(regression, regressor_bytes())
    regression.post("/api/predict", {"id": 5, "features": {"x": 1.0}}, format="json")
    regression.post("/api/learn", {"id": 5, "ground_truth": 1}, format="json")
    assert regression.post("/api/learn", {"id": 5, "ground_truth": 1}, format="json").status_code == 409


class Unserializable:
    def learn_one(self, x, y):
        pass

    def predict_one(self, x):
        return object()


def test_a_prediction_that_is_not_json_is_refused_at_upload(regression):
    response = upload(regression, dill.dumps(Unserializable()), "odd")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/predict", {"features": {"x": 1}}),
        ("post", "/api/learn", {"features": {"x": 1}, "ground_truth": 1}),
        ("get", "/api/metrics", None),
        ("get", "/api/model", None),
        ("get", "/api/stats", None),
    ],
)
def test_routes_needing_a_model_say_so_when_there_is_none(regression, method, path, body):
    response = getattr(regression, method)(path, body, format="json") if body else getattr(regression, method)(path)
    assert response.status_code == 404
    assert "/api/model" in response.json()["error"]["message"]


def test_an_unknown_named_model_is_a_404(regression):
    upload(regression, regressor_bytes(), "known")
    response = regression.post("/api/predict", {"features": {"x": 1}, "model": "unknown"}, format="json")
    assert response.status_code == 404


def test_anonymous_clients_are_refused(anon_client):
    assert anon_client.get("/api/models").status_code == 401
    assert anon_client.post("/api/model", data=b"x", content_type="application/octet-stream").status_code == 401


def test_uploading_and_init_need_the_upload_permission(reader_client):
    assert reader_client.post("/api/init", {"flavor": "regression"}, format="json").status_code == 403
    response = reader_client.post("/api/model/m", data=regressor_bytes(), content_type="application/octet-stream")
    assert response.status_code == 403


def test_numbers_no_float_holds_are_a_400_on_chantilly_routes_too(regression):
    upload(regression, regressor_bytes())
    huge = "1" + "0" * 400
    predicted = regression.post("/api/predict", '{"features": {"x": 1e400}}', content_type="application/json")
    learned = regression.post(
        "/api/learn", '{"features": {"x": 1}, "ground_truth": ' + huge + "}", content_type="application/json"
    )
    assert (predicted.status_code, predicted.json()["error"]["field"]) == (400, "features.x")
    assert (learned.status_code, learned.json()["error"]["field"]) == (400, "ground_truth")


@pytest.fixture
def uploader_client(db):
    """A user holding only catalogue.add_modelversion: they may upload a version, nothing more."""
    return client_for(factories.UserFactory(username="uploader", permissions=["add_modelversion"]))


def test_the_upload_permission_alone_cannot_put_a_version_live_retire_or_reset(regression, uploader_client):
    # Given a live chantilly model
    upload(regression, regressor_bytes(), "taxi")
    live = MLModel.objects.get(name="taxi").production_version_id
    # When a user holding only add_modelversion tries every chantilly write
    replaced = upload(uploader_client, regressor_bytes(intercept=5.0), "taxi")
    deleted = uploader_client.delete("/api/model/taxi")
    reset = uploader_client.post("/api/init", {"flavor": "regression"}, format="json")
    # Then each is refused with the permission it lacks, and nothing changed
    assert [r.status_code for r in (replaced, deleted, reset)] == [403, 403, 403]
    assert "catalogue.change_mlmodel" in replaced.json()["error"]["message"]
    assert "catalogue.delete_mlmodel" in deleted.json()["error"]["message"]
    assert "catalogue.change_mlmodel" in reset.json()["error"]["message"]
    model = MLModel.objects.get(name="taxi")
    assert model.production_version_id == live
    assert model.versions.count() == 1


def test_uploading_to_a_new_name_needs_the_create_permission_too(regression, db):
    # Given a user who may upload and promote but not create models
    client = client_for(factories.UserFactory(username="p", permissions=["add_modelversion", "change_mlmodel"]))
    # When they upload to a name that does not exist, then to no name (a generated one)
    named, unnamed = upload(client, regressor_bytes(), "new"), upload(client, regressor_bytes())
    # Then both are refused as creating a model would be
    assert [named.status_code, unnamed.status_code] == [403, 403]
    assert "catalogue.add_mlmodel" in named.json()["error"]["message"]
    assert not MLModel.objects.exists()


def test_a_chantilly_upload_is_validated_by_the_same_service_as_a_rest_upload(
    regression, caplog, django_capture_on_commit_callbacks
):
    # Given a listener of the validation signal
    validated = []

    def listen(sender, version, **kwargs):
        validated.append((version.model.name, version.number, version.status))

    signals.version_validated.connect(listen)
    try:
        # When a model is uploaded through chantilly's route
        with (
            caplog.at_level(logging.INFO, logger="catalogue.services"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            assert upload(regression, regressor_bytes(), "taxi").status_code == 201
    finally:
        signals.version_validated.disconnect(listen)
    # Then it was validated like a REST upload: the event, the log line and the full report
    assert validated == [("taxi", 1, "ready")]
    assert "validated taxi v1: ready" in caplog.text
    version = ModelVersion.objects.get(model__name="taxi")
    assert version.validated_at is not None
    assert {c["name"] for c in version.validation_report["checks"]} >= {"load", "interface", "determinism"}


def test_a_refused_chantilly_upload_sends_no_validation_event(regression, django_capture_on_commit_callbacks):
    # Given a listener of the validation signal
    validated = []

    def listen(sender, version, **kwargs):
        validated.append(version)

    signals.version_validated.connect(listen)
    try:
        # When an upload is refused (its transaction rolls back: no version exists)
        with django_capture_on_commit_callbacks(execute=True):
            assert upload(regression, dill.dumps({"not": "a model"}), "m").status_code == 400
    finally:
        signals.version_validated.disconnect(listen)
    # Then no event announces a version that does not exist
    assert validated == []
    assert not ModelVersion.objects.exists()
