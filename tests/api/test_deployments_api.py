"""The deploy routes: deploy a version (202), read a deploy and a model's deploys, the promote that is a deploy,
and every error path with its message."""

import dill
import pytest

from catalogue import services
from catalogue.models import ModelVersion
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def taxi(db):
    """v1 in production, v2 ready, at no location."""
    model = factories.MLModelFactory(name="taxi", flavor="regression")
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor()))
    factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor(intercept=1.0)))
    services.deployment_promote(version=v1)
    return model


DEPLOY = "/api/v1/models/taxi/versions/2/deploy"


def error(response) -> tuple:
    body = response.json()["error"]
    return response.status_code, body.get("field"), body["message"]


def test_a_deploy_answers_202_with_the_deploy_its_url_and_each_instance(maintainer_client, taxi, _this_process_serves):
    response = maintainer_client.post(DEPLOY, {"note": "v2 is better"}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == body["url"] == f"/api/v1/deployments/{body['id']}/"
    assert (body["model"], body["version"], body["location"], body["status"]) == ("taxi", 2, None, "succeeded")
    assert (body["from_version"], body["note"], body["created_by"]) == (1, "v2 is better", "maintainer")
    assert [(p["instance_key"], p["status"]) for p in body["preloads"]] == [(_this_process_serves.key, "ready")]


def test_a_deploy_reads_back_and_lists_under_its_model(maintainer_client, reader_client, taxi):
    created = maintainer_client.post(DEPLOY, {}, format="json").json()
    read = reader_client.get(created["url"])
    assert read.status_code == 200
    assert read.json() == created
    listed = reader_client.get("/api/v1/models/taxi/deployment-tasks/").json()
    assert [item["id"] for item in listed["results"]] == [created["id"]]


def test_a_deploy_to_another_location_moves_the_model(maintainer_client, taxi):
    factories.LocationFactory(name="eu")
    body = maintainer_client.post(DEPLOY, {"location": "eu", "timeout_s": 5}, format="json").json()
    assert (body["status"], body["location"], body["timeout_s"]) == ("succeeded", "eu", 5.0)
    assert maintainer_client.get("/api/v1/models/taxi/").json()["location"] == "eu"


@pytest.mark.no_instance
def test_a_deploy_with_no_live_instance_is_accepted_and_fails_saying_why(maintainer_client, taxi):
    body = maintainer_client.post(DEPLOY, {}, format="json").json()
    assert (body["status"], body["reason"], body["preloads"]) == ("failed", "no live instance serves no location", [])
    assert maintainer_client.get("/api/v1/models/taxi/").json()["production_version"]["number"] == 1


@pytest.mark.no_instance
def test_a_promote_with_no_live_instance_is_a_conflict_that_says_why(maintainer_client, taxi):
    response = maintainer_client.post("/api/v1/models/taxi/versions/2/promote", {}, format="json")
    assert error(response) == (409, None, "the deploy failed: no live instance serves no location")
    assert response.json()["error"]["code"] == "deploy_failed"


def test_a_promote_is_a_deploy_and_answers_the_switch_as_before(maintainer_client, taxi):
    response = maintainer_client.post("/api/v1/models/taxi/versions/2/promote", {"note": "n"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["from_version"], response.json()["to_version"]) == (1, 2)
    tasks = maintainer_client.get("/api/v1/models/taxi/deployment-tasks/").json()["results"]
    assert [(t["version"], t["status"]) for t in tasks] == [(2, "succeeded")]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"timeout_s": 0}, "timeout_s", "timeout_s must be above 0 and at most 3600, not 0.0"),
        ({"timeout_s": 7200}, "timeout_s", "timeout_s must be above 0 and at most 3600, not 7200.0"),
        ({"timeout_s": "soon"}, "timeout_s", "timeout_s: A valid number is required."),
        ({"location": "mars"}, "location", "no location named 'mars' (GET /api/v1/locations/ lists them)"),
        ({"location": 3}, "location", "location: must be a string"),
        ({"where": "eu"}, "where", "where: unknown field; this request accepts: location, timeout_s, note"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(maintainer_client, taxi, body, field, message):
    assert error(maintainer_client.post(DEPLOY, body, format="json")) == (400, field, message)


def test_a_body_that_is_not_an_object_is_a_400(maintainer_client, taxi):
    response = maintainer_client.post(DEPLOY, [1], format="json")
    assert response.status_code == 400


def test_the_version_in_production_there_is_a_409(maintainer_client, taxi):
    response = maintainer_client.post("/api/v1/models/taxi/versions/1/deploy", {}, format="json")
    assert error(response) == (409, None, "taxi v1 is already in production at no location")


def test_a_version_not_ready_is_a_409(maintainer_client, taxi):
    factories.ModelVersionFactory(model=taxi, status=ModelVersion.Status.PENDING)
    response = maintainer_client.post("/api/v1/models/taxi/versions/3/deploy", {}, format="json")
    assert error(response) == (409, None, "only ready versions can be promoted; taxi v3 is pending")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/models/nope/versions/1/deploy",
        "/api/v1/models/taxi/versions/9/deploy",
    ],
)
def test_an_unknown_model_or_version_is_a_404(maintainer_client, taxi, url):
    assert maintainer_client.post(url, {}, format="json").status_code == 404


def test_a_version_number_that_is_not_a_number_is_a_400(maintainer_client, taxi):
    assert maintainer_client.post("/api/v1/models/taxi/versions/x/deploy", {}, format="json").status_code == 400


def test_an_unknown_deploy_is_a_404(reader_client, taxi):
    response = reader_client.get("/api/v1/deployments/999/")
    assert error(response) == (404, None, "no deploy 999")
    assert reader_client.get("/api/v1/models/nope/deployment-tasks/").status_code == 404


def test_deploying_needs_the_promote_permission_and_reading_a_login(reader_client, anon_client, taxi):
    refused = reader_client.post(DEPLOY, {}, format="json")
    assert refused.status_code == 403
    assert "deploying a version" in refused.json()["error"]["message"]
    assert anon_client.post(DEPLOY, {}, format="json").status_code == 401
    assert anon_client.get("/api/v1/deployments/1/").status_code == 401


def test_a_deploy_while_another_of_the_model_runs_is_a_409_naming_it(maintainer_client, taxi):
    from serving.models import DeploymentTask

    running = DeploymentTask.objects.create(model=taxi, version=taxi.versions.get(number=2), timeout_s=60)
    response = maintainer_client.post(DEPLOY, {}, format="json")
    assert response.status_code == 409, response.content
    body = response.json()["error"]
    assert body["code"] == "deploy_running"
    assert f"deploy {running.pk} of taxi v2 is still running" in body["message"]


def test_moving_a_model_in_production_by_patch_is_a_409_that_says_to_deploy(maintainer_client, taxi):
    from tests import factories as made

    made.LocationFactory(name="eu")
    response = maintainer_client.patch("/api/v1/models/taxi/", {"location": "eu"}, format="json")
    assert response.status_code == 409, response.content
    body = response.json()["error"]
    assert (body["code"], body["field"]) == ("move_by_deploy", "location")
    assert "POST /api/v1/models/taxi/versions/1/deploy" in body["message"]
    taxi.refresh_from_db()
    assert taxi.location is None
    moved = maintainer_client.post("/api/v1/models/taxi/versions/1/deploy", {"location": "eu"}, format="json")
    assert moved.status_code == 202 and moved.json()["status"] == "succeeded", moved.content
    taxi.refresh_from_db()
    assert taxi.location.name == "eu"
