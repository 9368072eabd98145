"""The pipeline routes: create, read, new versions, promote, rollback, predict, learn; every error path in the
API's one error shape, and the permissions of the equivalent model routes."""

import dill
import pytest
from river import anomaly, linear_model, preprocessing

from catalogue import services
from catalogue.models import MLModel
from catalogue.pipeline_models import PipelineDeployment, PipelineVersion
from serving.models import LearnEvent
from tests import factories

pytestmark = pytest.mark.django_db

API = "/api/v1/pipelines/"
STAGES = [{"model": "scorer", "as": "score"}, {"model": "clf"}]
X = {"x": 0.2, "y": 0.7}


def live_model(obj, *, name: str, flavor: str) -> MLModel:
    model = factories.MLModelFactory(name=name, flavor=flavor)
    services.deployment_promote(version=factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj)))
    return model


@pytest.fixture
def stage_models():
    live_model(preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=1), name="scorer", flavor="anomaly")
    live_model(preprocessing.StandardScaler() | linear_model.LogisticRegression(), name="clf", flavor="binary")


@pytest.fixture
def fraud(stage_models, maintainer_client):
    response = maintainer_client.post(API, {"name": "fraud", "stages": STAGES}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def error_of(response) -> dict:
    return response.json()["error"]


def test_creating_a_pipeline_answers_it_with_version_1_in_production(fraud):
    assert fraud["name"] == "fraud"
    assert fraud["production_version"]["number"] == 1
    assert fraud["production_version"]["stages"] == STAGES
    assert [v["number"] for v in fraud["versions"]] == [1]
    assert [(h["action"], h["from_version"], h["to_version"]) for h in fraud["history"]] == [("promote", None, 1)]
    assert fraud["owner"] == "maintainer"


def test_create_sends_the_new_pipeline_s_location(stage_models, maintainer_client):
    response = maintainer_client.post(API, {"name": "p", "stages": [{"model": "clf"}]}, format="json")
    assert response["Location"].endswith("/api/v1/pipelines/p/")


def test_the_list_and_the_detail_show_the_pipeline(fraud, reader_client):
    listed = reader_client.get(API).json()
    assert [p["name"] for p in listed["results"]] == ["fraud"]
    detail = reader_client.get(f"{API}fraud/").json()
    assert detail["versions"][0]["stages"] == STAGES


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "p", "stages": [{"model": "ghost"}]}, "stages[0].model", "no model named 'ghost'"),
        ({"name": "p", "stages": [{"model": "scorer"}, {"model": "clf"}]}, "stages[0].as", "is required"),
        ({"name": "p", "stages": "clf"}, "stages", "non-empty JSON list"),
        ({"name": "p", "stages": [{"model": "clf"}], "colour": "red"}, "colour", "unknown field"),
        ({"name": "Bad Name", "stages": [{"model": "clf"}]}, "name", "lowercase"),
        ({"stages": [{"model": "clf"}]}, "name", "required"),
    ],
)
def test_bad_creates_are_refused_with_a_clear_400(stage_models, maintainer_client, body, field, message):
    response = maintainer_client.post(API, body, format="json")
    assert response.status_code == 400
    assert error_of(response)["field"] == field
    assert message in error_of(response)["message"]


def test_a_second_pipeline_of_the_same_name_is_a_conflict(fraud, maintainer_client):
    response = maintainer_client.post(API, {"name": "fraud", "stages": STAGES}, format="json")
    assert (response.status_code, error_of(response)["code"]) == (409, "conflict")


def test_creating_needs_add_mlmodel(stage_models, reader_client, anon_client):
    assert reader_client.post(API, {"name": "p", "stages": STAGES}, format="json").status_code == 403
    assert anon_client.post(API, {"name": "p", "stages": STAGES}, format="json").status_code == 401
    assert "catalogue.add_mlmodel" in error_of(reader_client.post(API, {}, format="json"))["message"]


def test_new_stages_are_a_new_version_that_answers_once_promoted(fraud, maintainer_client):
    # When a version with the classifier alone is added
    response = maintainer_client.post(f"{API}fraud/versions/", {"stages": [{"model": "clf"}]}, format="json")
    assert response.status_code == 201
    assert response.json()["number"] == 2
    # Then version 1 still answers, until version 2 is promoted
    assert set(maintainer_client.post(f"{API}fraud/predict", {"features": X}, format="json").json()["stages"]) == {
        "scorer",
        "clf",
    }
    promoted = maintainer_client.post(f"{API}fraud/versions/2/promote", {"note": "simpler"}, format="json")
    assert promoted.json()["to_version"] == 2
    answer = maintainer_client.post(f"{API}fraud/predict", {"features": X}, format="json").json()
    assert (answer["version"], set(answer["stages"])) == (2, {"clf"})
    # And a rollback returns to version 1, all of it in the history
    rolled = maintainer_client.post(f"{API}fraud/rollback", {}, format="json")
    assert (rolled.json()["from_version"], rolled.json()["to_version"]) == (2, 1)
    history = maintainer_client.get(f"{API}fraud/").json()["history"]
    assert [h["action"] for h in history] == ["rollback", "promote", "promote"]


def test_the_same_stages_again_are_a_conflict(fraud, maintainer_client):
    response = maintainer_client.post(f"{API}fraud/versions/", {"stages": STAGES}, format="json")
    assert response.status_code == 409
    assert PipelineVersion.objects.count() == 1


def test_versions_are_listed_newest_first(fraud, maintainer_client):
    maintainer_client.post(f"{API}fraud/versions/", {"stages": [{"model": "clf"}]}, format="json")
    listed = maintainer_client.get(f"{API}fraud/versions/").json()
    assert [v["number"] for v in listed["results"]] == [2, 1]


def test_a_new_version_needs_add_modelversion_and_promote_and_rollback_change_mlmodel(fraud, reader_client):
    refused = reader_client.post(f"{API}fraud/versions/", {"stages": [{"model": "clf"}]}, format="json")
    assert (refused.status_code, "catalogue.add_modelversion" in error_of(refused)["message"]) == (403, True)
    for route in ("versions/1/promote", "rollback"):
        refused = reader_client.post(f"{API}fraud/{route}", {}, format="json")
        assert (refused.status_code, "catalogue.change_mlmodel" in error_of(refused)["message"]) == (403, True)


@pytest.mark.parametrize(
    ("route", "status", "message"),
    [
        ("versions/1/promote", 409, "already in production"),
        ("versions/9/promote", 404, "has no version 9"),
        ("versions/x/promote", 400, "whole number"),
        ("rollback", 409, "no earlier production version"),
    ],
)
def test_promote_and_rollback_errors_are_clear_and_record_nothing(fraud, maintainer_client, route, status, message):
    response = maintainer_client.post(f"{API}fraud/{route}", {}, format="json")
    assert response.status_code == status
    assert message in error_of(response)["message"]
    assert PipelineDeployment.objects.count() == 1


def test_an_unknown_pipeline_is_a_404_on_every_route(maintainer_client):
    for method, route, body in (
        ("get", "", None),
        ("post", "versions/", {"stages": [{"model": "clf"}]}),
        ("post", "versions/1/promote", {}),
        ("post", "rollback", {}),
        ("post", "predict", {"features": X}),
        ("post", "learn", {"id": 1, "ground_truth": True}),
        ("delete", "", None),
    ):
        response = getattr(maintainer_client, method)(f"{API}ghost/{route}", body, format="json")
        assert (response.status_code, error_of(response)["code"]) == (404, "not_found")


def test_predict_and_learn_by_id(fraud, maintainer_client):
    answer = maintainer_client.post(f"{API}fraud/predict", {"features": X, "id": "t1"}, format="json")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["pipeline"], body["version"], body["id"]) == ("fraud", 1, "t1")
    assert body["prediction"] == body["stages"]["clf"]["prediction"]
    assert body["stages"]["scorer"]["model"] == "scorer"
    learned = maintainer_client.post(f"{API}fraud/learn", {"id": "t1", "ground_truth": True}, format="json")
    assert learned.status_code == 201
    assert set(learned.json()["stages"]) == {"scorer", "clf"}
    assert learned.json()["stages"]["clf"]["ground_truth"] is True
    assert LearnEvent.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "status", "field", "message"),
    [
        ({"id": "never", "ground_truth": True}, 404, "id", "no pending prediction of pipeline fraud"),
        ({"id": "t2", "ground_truth": {"ghost": True}}, 400, "ground_truth", "'ghost' is none"),
        ({"id": "t2", "ground_truth": "perhaps"}, 400, "ground_truth", "true/false"),
        ({"id": "t2"}, 400, "ground_truth", "is required"),
        ({"ground_truth": True}, 400, "id", "id is required"),
        ({"id": [1], "ground_truth": True}, 400, "id", "integer or a string"),
    ],
)
def test_bad_learns_are_clear_4xx_and_teach_no_stage(fraud, maintainer_client, body, status, field, message):
    maintainer_client.post(f"{API}fraud/predict", {"features": X, "id": "t2"}, format="json")
    response = maintainer_client.post(f"{API}fraud/learn", body, format="json")
    assert response.status_code == status
    assert (error_of(response)["field"], message in error_of(response)["message"]) == (field, True)
    assert not LearnEvent.objects.exists()


def test_learning_an_id_twice_is_a_conflict(fraud, maintainer_client):
    maintainer_client.post(f"{API}fraud/predict", {"features": X, "id": 3}, format="json")
    maintainer_client.post(f"{API}fraud/learn", {"id": 3, "ground_truth": False}, format="json")
    response = maintainer_client.post(f"{API}fraud/learn", {"id": 3, "ground_truth": False}, format="json")
    assert (response.status_code, "already learned" in error_of(response)["message"]) == (409, True)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"features": [1, 2]}, 400, "features must be a JSON object"),
        ({"features": {"score": 1.0}}, 400, "the name of stage scorer's output"),
        ('{"features": {"x": 1e400}}', 400, "finite"),
        ([1, 2], 400, "the body must be a JSON object"),
    ],
)
def test_bad_predicts_are_clear_400s(fraud, maintainer_client, body, status, message):
    if isinstance(body, str):  # JSON the test client would not write
        response = maintainer_client.post(f"{API}fraud/predict", body, content_type="application/json")
    else:
        response = maintainer_client.post(f"{API}fraud/predict", body, format="json")
    assert response.status_code == status
    assert message in error_of(response)["message"]


def test_a_stage_model_without_production_is_a_409(fraud, maintainer_client):
    services.version_retire(version=MLModel.objects.get(name="clf").versions.get())
    response = maintainer_client.post(f"{API}fraud/predict", {"features": X}, format="json")
    assert (response.status_code, error_of(response)["code"]) == (409, "no_production")
    assert "stage clf" in error_of(response)["message"]


def test_predict_and_learn_need_the_inference_permission(fraud, reader_client, anon_client, settings):
    for route in ("predict", "learn"):
        response = reader_client.post(f"{API}fraud/{route}", {"features": X, "id": 1}, format="json")
        assert (response.status_code, "catalogue.infer_mlmodel" in error_of(response)["message"]) == (403, True)
        assert anon_client.post(f"{API}fraud/{route}", {"features": X, "id": 1}, format="json").status_code == 401
    settings.RHYTHMIC_PUBLIC_INFERENCE = True
    assert anon_client.post(f"{API}fraud/predict", {"features": X}, format="json").status_code == 200


def test_a_forecaster_as_a_stage_is_a_400_naming_the_stage(stage_models, maintainer_client):
    factories.MLModelFactory(name="sales", flavor="forecasting")
    body = {"name": "p", "stages": [{"model": "sales", "as": "f"}, {"model": "clf"}]}
    response = maintainer_client.post(API, body, format="json")
    assert response.status_code == 400
    assert error_of(response)["field"] == "stages[0].model"
    assert "sales is a forecasting model" in error_of(response)["message"]


def test_deleting_a_pipeline_needs_delete_mlmodel_and_keeps_its_stage_models(fraud, maintainer_client, reader_client):
    refused = reader_client.delete(f"{API}fraud/")
    assert (refused.status_code, "catalogue.delete_mlmodel" in error_of(refused)["message"]) == (403, True)
    assert maintainer_client.delete(f"{API}fraud/").status_code == 204
    assert maintainer_client.get(f"{API}fraud/").status_code == 404
    assert set(MLModel.objects.values_list("name", flat=True)) >= {"scorer", "clf"}
    assert not PipelineVersion.objects.exists()
    assert maintainer_client.delete(f"{API}fraud/").status_code == 404
