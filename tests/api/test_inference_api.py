"""REST predict/learn routes under /api/v1/models/{name}/: happy paths and every error path."""

import dill
import pytest
from river import linear_model, preprocessing

from catalogue import services
from catalogue.models import MLModel
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def live():
    model = factories.MLModelFactory(name="taxi")
    version = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    )
    services.deployment_promote(version=version)
    return model


def url(route: str, name: str = "taxi") -> str:
    return f"/api/v1/models/{name}/{route}"


def test_predict_then_learn_by_id(maintainer_client, live):
    # When a client predicts with an id and learns with it
    predicted = maintainer_client.post(url("predict"), {"features": {"km": 3.0}, "id": 7}, format="json")
    learned = maintainer_client.post(url("learn"), {"id": 7, "ground_truth": 12.5}, format="json")
    # Then both answer with the model, version and log position
    assert predicted.status_code == 200
    assert predicted.json() == {"model": "taxi", "version": 1, "prediction": 0.0, "state_seq": 0, "id": 7}
    assert learned.status_code == 201
    assert learned.json()["seq"] == 1
    assert learned.json()["ground_truth"] == 12.5
    # And the metrics count the learn
    metrics = maintainer_client.get(url("metrics")).json()
    assert metrics["n_learned"] == 1
    assert set(metrics["metrics"]) == {"MAE", "RMSE", "SMAPE"}
    # And the label coverage of predictions made with an id
    assert metrics["labels"] == {"labelled": 1, "expired": 0, "coverage": 1.0}


def test_batch_routes_answer_one_result_per_item(maintainer_client, live):
    predicted = maintainer_client.post(
        url("predict-many"), [{"features": {"km": 1}, "id": "a"}, {"features": "bad"}], format="json"
    )
    assert predicted.status_code == 200
    results = predicted.json()["results"]
    assert results[0]["prediction"] == 0.0
    assert results[1]["error"]["field"] == "features"
    learned = maintainer_client.post(
        url("learn-many"), {"items": [{"id": "a", "ground_truth": 2}, {"id": "zzz", "ground_truth": 1}]}, format="json"
    )
    assert [("seq" in r, r.get("error", {}).get("code")) for r in learned.json()["results"]] == [
        (True, None),
        (False, "not_found"),
    ]


def test_stats_report_each_route(maintainer_client, live):
    maintainer_client.post(url("predict"), {"features": {"km": 1}}, format="json")
    stats = maintainer_client.get(url("stats")).json()
    assert stats["predict"]["n_calls"] >= 1
    assert {"mean_duration", "ewm_duration_human", "p99_duration"} <= set(stats["predict"])


def test_snapshot_creates_a_child_version(maintainer_client, live):
    maintainer_client.post(url("learn"), {"features": {"km": 1}, "ground_truth": 3}, format="json")
    response = maintainer_client.post(url("snapshot"), {"message": "after a day"}, format="json")
    assert response.status_code == 201
    assert response.json()["version"] == 2
    assert response.json()["parent"] == 1


@pytest.mark.parametrize(
    ("route", "body", "status", "needle"),
    [
        ("predict", {"features": [1, 2]}, 400, "features must be a JSON object"),
        ("predict", [1], 400, "the body must be a JSON object"),
        ("predict", {"features": {"km": 1}, "id": 1.5}, 400, "id must be an integer or a string"),
        ("learn", {"id": 99, "ground_truth": 1.0}, 404, "no pending prediction with id 99"),
        ("learn", {"ground_truth": 1.0}, 400, "send either the id given to predict, or the features"),
        ("learn", {"features": {"km": 1}, "ground_truth": "ten"}, 400, "must be a number"),
        ("learn", {"features": {"km": 1}}, 400, "ground_truth is required"),
        ("predict-many", {"items": "nope"}, 400, "non-empty JSON list"),
        ("learn-many", [], 400, "non-empty JSON list"),
    ],
)
def test_bad_input_gets_a_clear_4xx(maintainer_client, live, route, body, status, needle):
    response = maintainer_client.post(url(route), body, format="json")
    assert response.status_code == status
    assert needle in response.json()["error"]["message"]


def test_malformed_json_is_a_400(maintainer_client, live):
    response = maintainer_client.post(url("predict"), "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_unknown_model_is_a_404(maintainer_client, live):
    response = maintainer_client.post(url("predict", "ghost"), {"features": {}}, format="json")
    assert response.status_code == 404
    assert "no model named 'ghost'" in response.json()["error"]["message"]


def test_a_model_without_production_version_is_a_409(maintainer_client):
    factories.MLModelFactory(name="draft")
    response = maintainer_client.post(url("predict", "draft"), {"features": {}}, format="json")
    assert response.status_code == 409
    assert "promote" in response.json()["error"]["message"]


def test_unknown_version_metrics_is_a_404_and_bad_version_a_400(maintainer_client, live):
    assert maintainer_client.get(url("metrics") + "?version=9").status_code == 404
    assert maintainer_client.get(url("metrics") + "?version=x").status_code == 400


def test_anonymous_inference_is_refused(anon_client, live):
    response = anon_client.post(url("predict"), {"features": {"km": 1}}, format="json")
    assert response.status_code == 401


def test_inference_needs_the_infer_permission(reader_client, live):
    response = reader_client.post(url("predict"), {"features": {"km": 1}}, format="json")
    assert response.status_code == 403
    assert "infer_mlmodel" in response.json()["error"]["message"]


def test_public_inference_lets_anonymous_clients_predict(anon_client, live, settings):
    settings.RHYTHMIC_PUBLIC_INFERENCE = True
    response = anon_client.post(url("predict"), {"features": {"km": 1}}, format="json")
    assert response.status_code == 200


def test_snapshot_needs_the_upload_permission(reader_client, live):
    assert reader_client.post(url("snapshot"), {}, format="json").status_code == 403


def test_a_revoked_token_stops_working_at_once(maintainer_client, maintainer, live):
    from rest_framework.authtoken.models import Token

    assert maintainer_client.post(url("predict"), {"features": {"km": 1}}, format="json").status_code == 200
    Token.objects.filter(user=maintainer).delete()
    assert maintainer_client.post(url("predict"), {"features": {"km": 1}}, format="json").status_code == 401


def test_a_withdrawn_permission_takes_effect_at_once(maintainer_client, maintainer, live):
    from django.contrib.auth.models import Permission

    assert maintainer_client.post(url("predict"), {"features": {"km": 1}}, format="json").status_code == 200
    maintainer.user_permissions.remove(Permission.objects.get(codename="infer_mlmodel"))
    assert maintainer_client.post(url("predict"), {"features": {"km": 1}}, format="json").status_code == 403


def test_an_unknown_api_route_answers_json_404(maintainer_client):
    response = maintainer_client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_model_of_another_location_answers_421_saying_where_it_is(maintainer_client, live, settings):
    settings.RHYTHMIC_LOCATION = "edge"
    MLModel.objects.filter(pk=live.pk).update(location=factories.LocationFactory(name="core"))
    answer = maintainer_client.post(url("predict"), {"features": {"km": 3.0}}, format="json")
    assert answer.status_code == 421
    assert answer.json()["error"]["code"] == "wrong_location"
    assert "deployed to location 'core'" in answer.json()["error"]["message"]


def test_a_huge_ground_truth_is_learned_and_the_model_keeps_serving(maintainer_client, live):
    # When a client learns a ground truth whose squared error overflows a float
    learned = maintainer_client.post(url("learn"), {"features": {"x0": 1}, "ground_truth": 1e200}, format="json")
    # Then it is acknowledged, and predict and metrics still answer
    assert learned.status_code == 201
    assert maintainer_client.post(url("predict"), {"features": {"x0": 1}}, format="json").status_code == 200
    metrics = maintainer_client.get(url("metrics")).json()
    assert (metrics["n_learned"], metrics["n_scored"], metrics["n_not_scored"]) == (1, 0, 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"features": {"x0": 1}, "ground_truth": 1' + "0" * 400 + "}", "ground_truth"),
        ('{"features": {"x0": 1}, "ground_truth": 1e400}', "ground_truth"),
        ('{"features": {"x0": -1e400}, "ground_truth": 1}', "features.x0"),
        ('{"features": {"x0": [1, 1' + "0" * 400 + "]}, " + '"ground_truth": 1}', "features.x0[1]"),
    ],
)
def test_numbers_no_float_holds_are_a_400_naming_the_field(maintainer_client, live, body, field):
    response = maintainer_client.post(url("learn"), body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert maintainer_client.get(url("metrics")).json()["n_learned"] == 0
