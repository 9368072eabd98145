"""The catalogue's REST routes under /api/v1/: happy paths, permissions, and every error path."""

import json
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalogue import artifacts, services
from catalogue.models import Deployment, Location, MLModel, ModelVersion
from tests import factories

pytestmark = pytest.mark.django_db

MODELS = "/api/v1/models/"
TAXI = "/api/v1/models/taxi/"
VERSIONS = "/api/v1/models/taxi/versions/"


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def taxi(db):
    """An empty regression model named taxi."""
    return factories.MLModelFactory(name="taxi", flavor="regression")


@pytest.fixture
def other_regressor_bytes() -> bytes:
    """A second real river regressor, whose bytes differ from regressor_bytes."""
    return factories.artifact_bytes(factories.river_regressor(intercept=1.0))


@pytest.fixture
def client_with():
    """``client_with("add_location")``: an API client of a user who holds just those permissions."""

    def make(*codenames: str) -> APIClient:
        user = factories.UserFactory(username="holder-" + "-".join(codenames), permissions=list(codenames))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return client

    return make


def upload_raw(client, data: bytes, *, model: str = "taxi", **params):
    """POST the artifact as the raw body, the other fields as query parameters."""
    query = f"?{urlencode(params)}" if params else ""
    return client.post(f"/api/v1/models/{model}/versions/{query}", data=data, content_type="application/octet-stream")


def upload_form(client, data: bytes | None, *, model: str = "taxi", **fields):
    """POST the artifact as the file field of a multipart form."""
    if data is not None:
        fields["file"] = SimpleUploadedFile("model.dill", data, content_type="application/octet-stream")
    return client.post(f"/api/v1/models/{model}/versions/", fields, format="multipart")


def ready_version(model: MLModel, intercept: float = 0.0) -> ModelVersion:
    return factories.ModelVersionFactory(
        model=model, artifact=factories.artifact_bytes(factories.river_regressor(intercept=intercept))
    )


def error_of(response) -> dict:
    """The API's one error shape, checked: {"error": {"code", "message", "field"}}."""
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "field"} <= set(body["error"])
    assert body["error"]["message"]
    return body["error"]


# --- models ------------------------------------------------------------------------------------


def test_creating_a_model_answers_201_with_the_model_and_its_location(maintainer_client, maintainer):
    # Given a default location
    services.location_create(name="eu-west", is_default=True)
    # When a maintainer creates a model
    response = maintainer_client.post(
        MODELS,
        {"name": "taxi", "flavor": "regression", "description": "trip times", "metadata": {"team": "ops"}},
        format="json",
    )
    # Then it exists, in the default location, owned by its creator
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "taxi"
    assert body["location"] == "eu-west"
    assert body["owner"] == "maintainer"
    assert body["metadata"] == {"team": "ops"}
    assert body["production_version"] is None
    assert body["latest_version"] is None
    assert response["Location"].endswith(TAXI)
    assert MLModel.objects.get(name="taxi").owner == maintainer


def test_listing_models_shows_each_with_its_production_and_latest_version(reader_client, taxi):
    # Given a model with v1 in production and a newer v2
    first = ready_version(taxi)
    services.deployment_promote(version=first)
    ready_version(taxi, intercept=2.0)
    factories.MLModelFactory(name="empty")
    # When a reader lists the models
    response = reader_client.get(MODELS)
    # Then both are listed by name, with their versions summarised
    assert response.status_code == 200
    results = response.json()["results"]
    assert [item["name"] for item in results] == ["empty", "taxi"]
    assert results[1]["production_version"]["number"] == 1
    assert results[1]["production_version"]["sha256"] == first.sha256
    assert results[1]["latest_version"] == {"number": 2, "status": "ready"}
    assert results[0]["latest_version"] is None


def queries_for(client, path: str) -> int:
    """The queries of a GET, measured after a first one (authentication may cache the user)."""
    client.get(path)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def add_promoted_model() -> None:
    model = factories.MLModelFactory()
    services.deployment_promote(version=ready_version(model))
    ready_version(model, intercept=0.5)


def test_listing_models_takes_the_same_queries_for_one_model_or_many(reader_client):
    # Given one model with a production version and a newer one
    add_promoted_model()
    for_one = queries_for(reader_client, MODELS)
    # When four more are added, then listing them takes no more queries
    for _ in range(4):
        add_promoted_model()
    assert queries_for(reader_client, MODELS) == for_one


def test_listing_versions_takes_the_same_queries_for_one_version_or_many(reader_client, taxi):
    services.deployment_promote(version=ready_version(taxi))
    for_one = queries_for(reader_client, VERSIONS)
    for index in range(4):
        ready_version(taxi, intercept=index + 1)
    assert queries_for(reader_client, VERSIONS) == for_one


def test_getting_a_model_includes_its_production_version_summary(reader_client, taxi):
    version = ready_version(taxi)
    services.deployment_promote(version=version)
    response = reader_client.get(TAXI)
    assert response.status_code == 200
    assert response.json()["production_version"]["number"] == 1
    assert response.json()["production_version"]["status"] == "ready"


def test_patching_a_model_changes_description_metadata_and_location(maintainer_client, taxi):
    # Given a location
    Location.objects.create(name="gpu-pool")
    # When a maintainer patches the model
    response = maintainer_client.patch(
        TAXI, {"description": "new", "metadata": {"stage": "beta"}, "location": "gpu-pool"}, format="json"
    )
    # Then the changes are answered and stored
    assert response.status_code == 200
    assert response.json()["location"] == "gpu-pool"
    taxi.refresh_from_db()
    assert (taxi.description, taxi.metadata, taxi.location.name) == ("new", {"stage": "beta"}, "gpu-pool")


def test_patching_only_the_description_leaves_the_rest(maintainer_client, taxi):
    MLModel.objects.filter(pk=taxi.pk).update(metadata={"keep": "me"})
    response = maintainer_client.patch(TAXI, {"description": "only this"}, format="json")
    assert response.status_code == 200
    assert response.json()["metadata"] == {"keep": "me"}


def test_deleting_a_model_removes_it_and_its_versions(maintainer_client, taxi):
    ready_version(taxi)
    response = maintainer_client.delete(TAXI)
    assert response.status_code == 204
    assert not MLModel.objects.filter(name="taxi").exists()
    assert not ModelVersion.objects.exists()
    assert maintainer_client.get(TAXI).status_code == 404


# --- versions ----------------------------------------------------------------------------------


def test_a_raw_upload_becomes_version_1_and_is_validated(
    maintainer_client, taxi, regressor_bytes, django_capture_on_commit_callbacks
):
    # When a maintainer uploads a river model as the raw body, validation queued on commit
    with django_capture_on_commit_callbacks(execute=True):
        response = upload_raw(maintainer_client, regressor_bytes, format="dill", message="first fit")
    # Then it is version 1, pending at answer time, with a Location to follow
    assert response.status_code == 201
    body = response.json()
    assert (body["number"], body["status"], body["message"], body["author"]) == (
        1,
        "pending",
        "first fit",
        "maintainer",
    )
    assert body["sha256"] == artifacts.sha256_of(regressor_bytes)
    assert response["Location"].endswith(f"{VERSIONS}1/")
    # And following the Location shows it validated
    detail = maintainer_client.get(response["Location"]).json()
    assert detail["status"] == "ready"
    assert detail["validation_report"]["ok"] is True


def test_a_multipart_upload_after_a_raw_one_becomes_version_2_with_its_fields(
    maintainer_client, taxi, regressor_bytes, other_regressor_bytes
):
    # Given version 1
    assert upload_raw(maintainer_client, regressor_bytes).status_code == 201
    # When version 2 is uploaded as a form with every field
    response = upload_form(
        maintainer_client,
        other_regressor_bytes,
        format="dill",
        message="refit",
        description="with more data",
        requirements_file=SimpleUploadedFile("requirements.txt", b"river\n"),
        metadata=json.dumps({"data": "2024"}),
        input_example=json.dumps({"km": 3.5}),
        parent="1",
    )
    # Then it is version 2 with each field stored
    assert response.status_code == 201
    detail = maintainer_client.get(f"{VERSIONS}2/").json()
    assert detail["number"] == 2
    assert detail["parent"] == 1
    assert detail["author"] == "maintainer"
    assert detail["requirements"] == "river\n"
    assert detail["metadata"] == {"data": "2024"}
    assert detail["input_example"] == {"km": 3.5}
    assert (detail["message"], detail["description"]) == ("refit", "with more data")


def test_a_raw_upload_takes_url_encoded_requirements_and_json_query_parameters(
    maintainer_client, taxi, regressor_bytes
):
    response = upload_raw(
        maintainer_client,
        regressor_bytes,
        requirements="river>=0.20\ndill\n",
        metadata='{"team": "ops"}',
        input_example='{"km": 1}',
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["requirements"], body["metadata"], body["input_example"]) == (
        "river>=0.20\ndill\n",
        {"team": "ops"},
        {"km": 1},
    )


def test_uploading_the_same_bytes_again_answers_200_with_the_existing_version(maintainer_client, taxi, regressor_bytes):
    # Given version 1
    upload_raw(maintainer_client, regressor_bytes, message="first")
    # When the same bytes come again, by form
    response = upload_form(maintainer_client, regressor_bytes, message="again")
    # Then the answer is version 1 and nothing new is stored
    assert response.status_code == 200
    assert response.json()["number"] == 1
    assert response.json()["message"] == "first"
    assert taxi.versions.count() == 1


def test_a_garbage_artifact_is_accepted_then_fails_validation_with_a_reason(
    maintainer_client, taxi, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload_raw(maintainer_client, b"this is not a pickle", format="dill")
    assert response.status_code == 201
    detail = maintainer_client.get(f"{VERSIONS}1/").json()
    assert detail["status"] == "failed"
    assert "could not load the bytes as dill" in detail["validation_report"]["summary"]


def test_listing_versions_shows_newest_first(reader_client, taxi):
    ready_version(taxi)
    ready_version(taxi, intercept=1.0)
    response = reader_client.get(VERSIONS)
    assert response.status_code == 200
    assert [item["number"] for item in response.json()["results"]] == [2, 1]


def test_downloading_an_artifact_returns_the_exact_bytes_with_name_and_hash(reader_client, taxi):
    version = ready_version(taxi)
    response = reader_client.get(f"{VERSIONS}1/artifact", HTTP_ACCEPT="application/octet-stream")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response.content == bytes(version.artifact)
    assert response["Content-Disposition"] == 'attachment; filename="taxi-v1.dill"'
    assert response["ETag"] == f'"{version.sha256}"'
    assert response["X-Artifact-SHA256"] == artifacts.sha256_of(response.content)


# --- deployments -------------------------------------------------------------------------------


def test_promoting_a_ready_version_puts_it_in_production(maintainer_client, taxi):
    # Given a ready version 1
    ready_version(taxi)
    # When a maintainer promotes it with a note
    response = maintainer_client.post(f"{VERSIONS}1/promote", {"note": "go live"}, format="json")
    # Then the deployment is answered and the model shows it in production
    assert response.status_code == 200
    assert response.json()["action"] == "promote"
    assert (response.json()["from_version"], response.json()["to_version"]) == (None, 1)
    assert maintainer_client.get(TAXI).json()["production_version"]["number"] == 1
    assert maintainer_client.get(f"{VERSIONS}1/").json()["is_live"] is True


def test_promoting_without_a_body_is_allowed(maintainer_client, taxi):
    ready_version(taxi)
    response = maintainer_client.post(f"{VERSIONS}1/promote")
    assert response.status_code == 200


def test_rollback_returns_to_the_previous_production_version(maintainer_client, taxi):
    # Given v1 then v2 promoted
    ready_version(taxi)
    ready_version(taxi, intercept=1.0)
    maintainer_client.post(f"{VERSIONS}1/promote", format="json")
    maintainer_client.post(f"{VERSIONS}2/promote", format="json")
    # When the model is rolled back
    response = maintainer_client.post(f"{TAXI}rollback", {"note": "v2 drifts"}, format="json")
    # Then v1 is back in production
    assert response.status_code == 200
    assert (response.json()["action"], response.json()["from_version"], response.json()["to_version"]) == (
        "rollback",
        2,
        1,
    )
    assert maintainer_client.get(TAXI).json()["production_version"]["number"] == 1


def test_the_deployment_history_lists_every_change_newest_first(maintainer_client, taxi):
    # Given two promotions and a rollback
    ready_version(taxi)
    ready_version(taxi, intercept=1.0)
    maintainer_client.post(f"{VERSIONS}1/promote", {"note": "first"}, format="json")
    maintainer_client.post(f"{VERSIONS}2/promote", format="json")
    maintainer_client.post(f"{TAXI}rollback", {"note": "back"}, format="json")
    # When a reader asks for the history
    response = maintainer_client.get(f"{TAXI}deployments")
    # Then it lists them newest first, with versions by number, user and note
    assert response.status_code == 200
    history = [
        (item["action"], item["from_version"], item["to_version"], item["user"], item["note"])
        for item in response.json()["results"]
    ]
    assert history == [
        ("rollback", 2, 1, "maintainer", "back"),
        ("promote", 1, 2, "maintainer", ""),
        ("promote", None, 1, "maintainer", "first"),
    ]
    assert all(item["created_at"] for item in response.json()["results"])


def test_retiring_the_production_version_leaves_the_model_without_one(maintainer_client, taxi):
    services.deployment_promote(version=ready_version(taxi))
    response = maintainer_client.post(f"{VERSIONS}1/retire", format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "retired"
    assert response.json()["is_live"] is False
    assert maintainer_client.get(TAXI).json()["production_version"] is None


def test_validating_again_queues_the_checks_and_records_the_result(
    maintainer_client, taxi, django_capture_on_commit_callbacks
):
    # Given a version that failed validation
    version = ready_version(taxi)
    ModelVersion.objects.filter(pk=version.pk).update(status="failed")
    # When it is validated again
    with django_capture_on_commit_callbacks(execute=True):
        response = maintainer_client.post(f"{VERSIONS}1/validate")
    # Then the answer says it waits for a worker, and the checks then pass
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert maintainer_client.get(f"{VERSIONS}1/").json()["status"] == "ready"


# --- locations ---------------------------------------------------------------------------------


def test_locations_are_listed_for_readers(reader_client):
    Location.objects.create(name="eu-west", is_default=True)
    response = reader_client.get("/api/v1/locations/")
    assert response.status_code == 200
    assert [(item["name"], item["is_default"]) for item in response.json()["results"]] == [("eu-west", True)]


def test_creating_a_default_location_makes_it_the_only_default(client_with):
    Location.objects.create(name="old", is_default=True)
    response = client_with("add_location").post(
        "/api/v1/locations/", {"name": "new", "is_default": True}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["is_default"] is True
    assert list(Location.objects.filter(is_default=True).values_list("name", flat=True)) == ["new"]


# --- authentication and permissions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", MODELS),
        ("post", MODELS),
        ("get", TAXI),
        ("get", VERSIONS),
        ("post", VERSIONS),
        ("get", f"{VERSIONS}1/"),
        ("get", f"{VERSIONS}1/artifact"),
        ("post", f"{VERSIONS}1/promote"),
        ("post", f"{TAXI}rollback"),
        ("get", f"{TAXI}deployments"),
        ("get", "/api/v1/locations/"),
    ],
)
def test_anonymous_clients_get_401_with_a_token_challenge(anon_client, taxi, method, path):
    ready_version(taxi)
    response = getattr(anon_client, method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert error_of(response)["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("method", "path", "permission"),
    [
        ("post", MODELS, "catalogue.add_mlmodel"),
        ("patch", TAXI, "catalogue.change_mlmodel"),
        ("delete", TAXI, "catalogue.delete_mlmodel"),
        ("post", VERSIONS, "catalogue.add_modelversion"),
        ("post", f"{VERSIONS}1/promote", "catalogue.change_mlmodel"),
        ("post", f"{VERSIONS}1/retire", "catalogue.change_mlmodel"),
        ("post", f"{VERSIONS}1/validate", "catalogue.change_mlmodel"),
        ("post", f"{TAXI}rollback", "catalogue.change_mlmodel"),
        ("post", "/api/v1/locations/", "catalogue.add_location"),
    ],
)
def test_writes_without_the_permission_get_403_naming_it(reader_client, taxi, method, path, permission):
    # Given a logged-in reader and a ready version
    ready_version(taxi)
    # When the reader tries a write
    response = getattr(reader_client, method)(path, {}, format="json")
    # Then it is refused with the permission to ask for, and nothing changed
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "permission_denied"
    assert permission in error["message"]
    assert MLModel.objects.filter(name="taxi", production_version=None).exists()
    assert not Deployment.objects.exists()


def test_uploading_needs_add_modelversion_even_with_every_model_permission(client_with, taxi, regressor_bytes):
    client = client_with("add_mlmodel", "change_mlmodel", "delete_mlmodel")
    response = upload_raw(client, regressor_bytes)
    assert response.status_code == 403
    assert "catalogue.add_modelversion" in error_of(response)["message"]
    assert not taxi.versions.exists()


# --- error paths: models -----------------------------------------------------------------------


def test_creating_a_model_with_bad_json_answers_400(maintainer_client):
    response = maintainer_client.post(MODELS, data='{"name": "taxi",', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"flavor": "regression"}, "name", "required"),
        ({"name": ["taxi"], "flavor": "regression"}, "name", "must be a string"),
        ({"name": "Taxi Trips", "flavor": "regression"}, "name", "lowercase"),
        ({"name": "taxi", "flavor": "ranking"}, "flavor", "must be one of"),
        ({"name": "taxi", "flavor": "regression", "description": 5}, "description", "must be a string"),
        ({"name": "taxi", "flavor": "regression", "metadata": {"team": 7}}, "metadata", "object of strings"),
        ({"name": "taxi", "flavor": "regression", "metadata": ["team"]}, "metadata", "JSON object"),
        ({"name": "taxi", "flavor": "regression", "location": "nowhere"}, "location", "no location"),
        ({"name": "taxi", "flavor": "regression", "owner": "me"}, "owner", "unknown field"),
    ],
)
def test_creating_a_model_with_bad_input_answers_400_naming_the_field(maintainer_client, body, field, says):
    response = maintainer_client.post(MODELS, body, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["field"] == field
    assert says in error["message"]
    assert not MLModel.objects.exists()


def test_creating_a_model_with_a_list_body_answers_400(maintainer_client):
    response = maintainer_client.post(MODELS, [{"name": "taxi"}], format="json")
    assert response.status_code == 400
    assert "dictionary" in error_of(response)["message"]


def test_creating_a_model_with_a_taken_name_answers_409(maintainer_client, taxi):
    response = maintainer_client.post(MODELS, {"name": "taxi", "flavor": "binary"}, format="json")
    assert response.status_code == 409
    assert error_of(response)["field"] == "name"
    assert MLModel.objects.get(name="taxi").flavor == "regression"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metadata": {"team": None}}, "metadata"),
        ({"metadata": "team=ops"}, "metadata"),
        ({"description": ["a"]}, "description"),
        ({"location": "nowhere"}, "location"),
        ({"flavor": "binary"}, "flavor"),
    ],
)
def test_patching_with_bad_input_answers_400_and_changes_nothing(maintainer_client, taxi, body, field):
    response = maintainer_client.patch(TAXI, body, format="json")
    assert response.status_code == 400
    assert error_of(response)["field"] == field
    taxi.refresh_from_db()
    assert (taxi.flavor, taxi.metadata, taxi.description) == ("regression", {}, "A test model")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/models/nope/"),
        ("patch", "/api/v1/models/nope/"),
        ("delete", "/api/v1/models/nope/"),
        ("get", "/api/v1/models/nope/versions/"),
        ("post", "/api/v1/models/nope/versions/"),
        ("get", "/api/v1/models/nope/versions/1/"),
        ("post", "/api/v1/models/nope/rollback"),
        ("get", "/api/v1/models/nope/deployments"),
    ],
)
def test_an_unknown_model_name_answers_404(maintainer_client, method, path):
    response = getattr(maintainer_client, method)(path, format="json")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "not_found"
    assert "no model named 'nope'" in error["message"]


# --- error paths: versions ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "artifact", "promote", "retire", "validate"])
def test_an_unknown_version_number_answers_404(maintainer_client, taxi, suffix):
    method = maintainer_client.post if suffix in ("promote", "retire", "validate") else maintainer_client.get
    response = method(f"{VERSIONS}9/{suffix}")
    assert response.status_code == 404
    assert error_of(response)["message"] == "taxi has no version 9"


@pytest.mark.parametrize("suffix", ["", "artifact", "promote"])
def test_a_version_number_that_is_not_a_whole_number_answers_400(maintainer_client, taxi, suffix):
    method = maintainer_client.post if suffix == "promote" else maintainer_client.get
    response = method(f"{VERSIONS}latest/{suffix}")
    assert response.status_code == 400
    error = error_of(response)
    assert error["field"] == "version"
    assert "whole number" in error["message"]


def test_an_empty_raw_upload_answers_400(maintainer_client, taxi):
    response = upload_raw(maintainer_client, b"")
    assert response.status_code == 400
    assert "the artifact is empty" in error_of(response)["message"]
    assert not taxi.versions.exists()


def test_a_form_upload_without_a_file_answers_400(maintainer_client, taxi):
    response = upload_form(maintainer_client, None, message="forgot the file")
    assert response.status_code == 400
    assert error_of(response)["field"] == "file"


def test_a_json_upload_answers_415_saying_how_to_send_an_artifact(maintainer_client, taxi):
    response = maintainer_client.post(VERSIONS, {"file": "abc"}, format="json")
    assert response.status_code == 415
    assert "application/octet-stream" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"format": "zip"}, "format", "must be one of"),
        ({"metadata": "team=ops"}, "metadata", "JSON object"),
        ({"metadata": '{"team": 1}'}, "metadata", "object of strings"),
        ({"input_example": "[1, 2]"}, "input_example", "JSON object"),
        ({"parent": "one"}, "parent", "valid integer"),
        ({"parent": "7"}, "parent", "taxi has no version 7"),
        ({"message": "m" * 501}, "message", "500"),
        ({"mesage": "typo"}, "mesage", "unknown field"),
    ],
)
def test_a_raw_upload_with_bad_fields_answers_400_naming_the_field(
    maintainer_client, taxi, regressor_bytes, params, field, says
):
    response = upload_raw(maintainer_client, regressor_bytes, **params)
    assert response.status_code == 400
    error = error_of(response)
    assert error["field"] == field
    assert says in error["message"]
    assert not taxi.versions.exists()


def test_a_form_upload_with_requirements_as_text_and_file_answers_400(maintainer_client, taxi, regressor_bytes):
    response = upload_form(
        maintainer_client,
        regressor_bytes,
        requirements="river",
        requirements_file=SimpleUploadedFile("requirements.txt", b"river"),
    )
    assert response.status_code == 400
    assert error_of(response)["field"] == "requirements_file"


def test_a_raw_upload_over_the_artifact_limit_answers_413(maintainer_client, taxi, regressor_bytes, settings):
    settings.RHYTHMIC_MAX_ARTIFACT_BYTES = 100
    response = upload_raw(maintainer_client, regressor_bytes)
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "too_large"
    assert "RHYTHMIC_MAX_ARTIFACT_BYTES" in error["message"]
    assert not taxi.versions.exists()


def test_a_raw_body_over_djangos_upload_limit_answers_413_in_the_error_shape(
    maintainer_client, taxi, regressor_bytes, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = upload_raw(maintainer_client, regressor_bytes)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in error_of(response)["message"]
    assert not taxi.versions.exists()


def test_a_form_upload_over_the_artifact_limit_answers_413(maintainer_client, taxi, regressor_bytes, settings):
    settings.RHYTHMIC_MAX_ARTIFACT_BYTES = 100
    response = upload_form(maintainer_client, regressor_bytes)
    assert response.status_code == 413
    assert error_of(response)["field"] == "file"


def test_a_form_with_too_many_fields_answers_400_in_the_error_shape(maintainer_client, taxi, regressor_bytes, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 2
    response = upload_form(maintainer_client, regressor_bytes, message="m", description="d", format="dill")
    assert response.status_code == 400
    assert "too many fields" in error_of(response)["message"]
    assert not taxi.versions.exists()


def test_a_format_query_parameter_is_not_taken_for_a_renderer(maintainer_client, taxi, regressor_bytes):
    # DRF reads ?format= as a renderer name and would answer 404; here it is the artifact's format.
    response = upload_raw(maintainer_client, regressor_bytes, format="pickle")
    assert response.status_code == 201
    assert response.json()["format"] == "pickle"


def test_a_slashless_collection_url_redirects_keeping_the_method(maintainer_client):
    response = maintainer_client.post("/api/v1/models?x=1", {"name": "taxi", "flavor": "regression"}, format="json")
    assert response.status_code == 308
    assert response["Location"] == "/api/v1/models/?x=1"


# --- error paths: deployments ------------------------------------------------------------------


@pytest.mark.parametrize("state", ["pending", "validating", "failed", "retired"])
def test_promoting_a_version_that_is_not_ready_answers_409(maintainer_client, taxi, state):
    version = ready_version(taxi)
    ModelVersion.objects.filter(pk=version.pk).update(status=state)
    response = maintainer_client.post(f"{VERSIONS}1/promote", format="json")
    assert response.status_code == 409
    assert f"taxi v1 is {state}" in error_of(response)["message"]
    assert not Deployment.objects.exists()


def test_promoting_the_production_version_again_answers_409(maintainer_client, taxi):
    services.deployment_promote(version=ready_version(taxi))
    response = maintainer_client.post(f"{VERSIONS}1/promote", format="json")
    assert response.status_code == 409
    assert "already in production" in error_of(response)["message"]


def test_rolling_back_without_a_production_version_answers_409(maintainer_client, taxi):
    response = maintainer_client.post(f"{TAXI}rollback", format="json")
    assert response.status_code == 409
    assert "no production version" in error_of(response)["message"]


def test_rolling_back_with_no_earlier_version_answers_409(maintainer_client, taxi):
    services.deployment_promote(version=ready_version(taxi))
    response = maintainer_client.post(f"{TAXI}rollback", format="json")
    assert response.status_code == 409
    assert "no earlier ready production version" in error_of(response)["message"]
    assert MLModel.objects.get(name="taxi").production_version.number == 1


def test_retiring_a_retired_version_answers_409(maintainer_client, taxi):
    version = ready_version(taxi)
    ModelVersion.objects.filter(pk=version.pk).update(status="retired")
    response = maintainer_client.post(f"{VERSIONS}1/retire", format="json")
    assert response.status_code == 409
    assert "already retired" in error_of(response)["message"]


def test_validating_a_retired_version_answers_409(maintainer_client, taxi):
    version = ready_version(taxi)
    ModelVersion.objects.filter(pk=version.pk).update(status="retired")
    response = maintainer_client.post(f"{VERSIONS}1/validate", format="json")
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"note": 5}, "must be a string"),
        ({"note": "n" * 501}, "500"),
        ({"notes": "typo"}, "unknown field"),
    ],
)
def test_a_bad_note_answers_400(maintainer_client, taxi, body, says):
    ready_version(taxi)
    response = maintainer_client.post(f"{VERSIONS}1/promote", body, format="json")
    assert response.status_code == 400
    assert says in error_of(response)["message"]
    assert not Deployment.objects.exists()


def test_a_note_in_bad_json_answers_400(maintainer_client, taxi):
    ready_version(taxi)
    response = maintainer_client.post(f"{TAXI}rollback", data="{note:", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in error_of(response)["message"]


# --- error paths: locations --------------------------------------------------------------------


def test_creating_a_location_with_a_taken_name_answers_409(client_with):
    Location.objects.create(name="eu-west")
    response = client_with("add_location").post("/api/v1/locations/", {"name": "eu-west"}, format="json")
    assert response.status_code == 409
    assert error_of(response)["field"] == "name"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": "EU West"}, "name"), ({"name": "eu", "is_default": "maybe"}, "is_default"), ({}, "name")],
)
def test_creating_a_location_with_bad_input_answers_400(client_with, body, field):
    response = client_with("add_location").post("/api/v1/locations/", body, format="json")
    assert response.status_code == 400
    assert error_of(response)["field"] == field
    assert not Location.objects.exists()
