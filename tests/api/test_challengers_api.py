"""REST routes of challengers and the canary: happy paths, permissions, and every error path."""

import itertools

import dill
import pytest
from river import datasets, linear_model, preprocessing

import serving
from catalogue import services
from catalogue.models import Challenger, Deployment, MLModel, ModelVersion
from tests import factories
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

CHALLENGERS = "/api/v1/models/taxi/challengers/"
CANARY = "/api/v1/models/taxi/canary"
STREAM = list(itertools.islice(datasets.TrumpApproval(), 20))


@pytest.fixture
def taxi(db):
    """taxi: v1 in production, v2 and v3 ready."""
    model = factories.MLModelFactory(name="taxi")
    versions = [
        factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj))
        for obj in (
            preprocessing.StandardScaler() | linear_model.LinearRegression(),
            preprocessing.MaxAbsScaler() | linear_model.LinearRegression(),
            linear_model.LinearRegression(l2=0.1),
        )
    ]
    services.deployment_promote(version=versions[0])
    return model


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["message"]
    return body["error"]


# --- challengers --------------------------------------------------------------------------------


def test_adding_a_challenger_answers_it_with_its_metrics(maintainer_client, taxi):
    response = maintainer_client.post(CHALLENGERS, {"version": 2, "note": "minmax"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["version"], body["added_by"]) == (2, "maintainer")
    assert body["metrics"]["version"] == 2
    assert body["metrics"]["n_learned"] == 0
    deployment = Deployment.objects.filter(model=taxi).first()
    assert (deployment.action, deployment.to_version.number, deployment.note) == ("add_challenger", 2, "minmax")


def test_listing_challengers_gives_each_ones_metrics_beside_productions(maintainer_client, taxi):
    maintainer_client.post(CHALLENGERS, {"version": 3}, format="json")
    maintainer_client.post(CHALLENGERS, {"version": 2}, format="json")
    for i, (x, y) in enumerate(STREAM):
        serving.predict(model="taxi", features=x, id=i)
        serving.learn(model="taxi", id=i, ground_truth=y)
    body = maintainer_client.get(CHALLENGERS).json()
    assert body["production"] == maintainer_client.get("/api/v1/models/taxi/metrics").json()
    assert [c["version"] for c in body["challengers"]] == [3, 2]
    for challenger in body["challengers"]:
        number = challenger["version"]
        assert challenger["metrics"] == maintainer_client.get(f"/api/v1/models/taxi/metrics?version={number}").json()
        assert challenger["metrics"]["n_learned"] == len(STREAM)


def test_deleting_a_challenger_stops_it(maintainer_client, taxi):
    maintainer_client.post(CHALLENGERS, {"version": 2}, format="json")
    response = maintainer_client.delete(f"{CHALLENGERS}2/")
    assert response.status_code == 204
    assert not Challenger.objects.exists()
    assert maintainer_client.get(CHALLENGERS).json()["challengers"] == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"version": 1}, 409, "version"),  # production
        ({"version": 9}, 404, None),
        ({"version": "2"}, 400, "version"),
        ({"version": True}, 400, "version"),
        ({}, 400, "version"),
        ({"version": 2, "nope": 1}, 400, "nope"),
        ([2], 400, None),
    ],
)
def test_adding_a_challenger_refuses_bad_input_clearly(maintainer_client, taxi, body, status, field):
    response = maintainer_client.post(CHALLENGERS, body, format="json")
    assert response.status_code == status, response.content
    assert error_of(response)["field"] == field


def test_adding_a_failed_or_duplicate_challenger_is_a_conflict(maintainer_client, taxi):
    ModelVersion.objects.filter(model=taxi, number=3).update(status=ModelVersion.Status.FAILED)
    response = maintainer_client.post(CHALLENGERS, {"version": 3}, format="json")
    assert response.status_code == 409
    assert "only ready versions" in error_of(response)["message"]
    assert maintainer_client.post(CHALLENGERS, {"version": 2}, format="json").status_code == 201
    response = maintainer_client.post(CHALLENGERS, {"version": 2}, format="json")
    assert response.status_code == 409
    assert "already a challenger" in error_of(response)["message"]


def test_deleting_what_is_not_a_challenger_is_not_found(maintainer_client, taxi):
    assert maintainer_client.delete(f"{CHALLENGERS}2/").status_code == 404
    assert maintainer_client.delete(f"{CHALLENGERS}9/").status_code == 404
    assert maintainer_client.delete(f"{CHALLENGERS}two/").status_code == 400
    assert maintainer_client.get("/api/v1/models/nope/challengers/").status_code == 404


def test_changing_challengers_needs_the_promote_permission(reader_client, anon_client, taxi):
    assert anon_client.get(CHALLENGERS).status_code == 401
    assert reader_client.get(CHALLENGERS).status_code == 200
    response = reader_client.post(CHALLENGERS, {"version": 2}, format="json")
    assert response.status_code == 403
    assert "catalogue.change_mlmodel" in error_of(response)["message"]
    services.challenger_add(version=taxi.versions.get(number=2))
    assert reader_client.delete(f"{CHALLENGERS}2/").status_code == 403
    assert Challenger.objects.exists()


def test_a_slashless_challengers_route_keeps_its_method(maintainer_client, taxi):
    response = maintainer_client.post(CHALLENGERS.rstrip("/"), {"version": 2}, format="json")
    assert response.status_code == 308


# --- canary -------------------------------------------------------------------------------------


def test_putting_a_canary_shows_it_and_routes_its_share(maintainer_client, taxi):
    response = maintainer_client.put(CANARY, {"version": 2, "percent": 100}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["version"], body["percent"]) == (2, 100.0)
    assert body["metrics"]["version"] == 2
    assert body["production"]["version"] == 1
    assert maintainer_client.get(CANARY).json()["version"] == 2
    answer = maintainer_client.post("/api/v1/models/taxi/predict", {"features": {"x": 1.0}, "id": "a"}, format="json")
    assert answer.json()["version"] == 2


def test_deleting_the_canary_sends_everything_to_production(maintainer_client, taxi):
    maintainer_client.put(CANARY, {"version": 2, "percent": 100}, format="json")
    assert maintainer_client.delete(CANARY).status_code == 204
    body = maintainer_client.get(CANARY).json()
    assert (body["version"], body["percent"], body["metrics"]) == (None, 0.0, None)
    assert MLModel.objects.get(name="taxi").canary_version_id is None
    actions = list(Deployment.objects.filter(model=taxi).values_list("action", flat=True)[:2])
    assert actions == ["end_canary", "set_canary"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"version": 2, "percent": 0}, 400, "percent"),
        ({"version": 2, "percent": 101}, 400, "percent"),
        ({"version": 2, "percent": "5"}, 400, "percent"),
        ({"version": 2, "percent": None}, 400, "percent"),
        ({"version": 2}, 400, "percent"),
        ({"percent": 5}, 400, "version"),
        ({"version": 1, "percent": 5}, 409, "version"),
        ({"version": 7, "percent": 5}, 404, None),
        ("5", 400, None),
    ],
)
def test_putting_a_canary_refuses_bad_input_clearly(maintainer_client, taxi, body, status, field):
    response = maintainer_client.put(CANARY, body, format="json")
    assert response.status_code == status, response.content
    assert error_of(response)["field"] == field


def test_ending_a_canary_that_is_not_there_is_not_found(maintainer_client, taxi):
    response = maintainer_client.delete(CANARY)
    assert response.status_code == 404
    assert "no canary" in error_of(response)["message"]


def test_setting_a_canary_needs_the_promote_permission(reader_client, taxi, maintainer):
    assert reader_client.put(CANARY, {"version": 2, "percent": 5}, format="json").status_code == 403
    client_for(maintainer).put(CANARY, {"version": 2, "percent": 5}, format="json")
    assert reader_client.delete(CANARY).status_code == 403
    assert reader_client.get(CANARY).json()["version"] == 2


def test_a_model_without_production_shows_null_metrics(maintainer_client):
    factories.ModelVersionFactory(model=factories.MLModelFactory(name="taxi"))
    assert maintainer_client.get(CHALLENGERS).json() == {"model": "taxi", "production": None, "challengers": []}
    assert maintainer_client.get(CANARY).json()["production"] is None
    response = maintainer_client.post(CHALLENGERS, {"version": 1}, format="json")
    assert response.status_code == 409
    assert "no production version" in error_of(response)["message"]


def test_the_schema_describes_the_challenger_and_canary_routes(anon_client):
    import yaml
    from drf_spectacular.validation import validate_schema

    schema = yaml.safe_load(anon_client.get("/api/schema/").content)
    validate_schema(schema)
    paths = schema["paths"]
    assert set(paths["/api/v1/models/{name}/challengers/"]) >= {"get", "post"}
    assert "delete" in paths["/api/v1/models/{name}/challengers/{number}/"]
    assert set(paths["/api/v1/models/{name}/canary"]) >= {"get", "put", "delete"}
    put = paths["/api/v1/models/{name}/canary"]["put"]
    assert {"200", "400", "403", "404", "409"} <= set(put["responses"])
