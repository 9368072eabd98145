"""The training-job routes: start (202), list, read, cancel, the versions' lineage, and every error path."""

import dill
import pytest

from catalogue import services
from serving import training
from tests import factories
from tests.training import csv_bytes, trump_dataset, trump_rows

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/trump/jobs/"


@pytest.fixture
def trump(db):
    """A regression model with an untrained river pipeline as v1, in production, and a dataset of 120 rows."""
    model = factories.MLModelFactory(name="trump", flavor="regression")
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor()))
    services.deployment_promote(version=v1)
    return trump_dataset(n=120)


def test_a_post_answers_202_with_the_queued_job_and_its_url(maintainer_client, trump):
    response = maintainer_client.post(URL, {"kind": "train", "version": 1, "dataset": trump.pk}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["version"], body["dataset"], body["dataset_name"]) == ("queued", 1, trump.pk, "trump")
    assert (body["from"], body["promote"], body["rows_total"], body["result_version"]) == ("artifact", False, 120, None)
    assert body["created_by"] == "maintainer"
    assert response["Location"] == body["url"] == f"{URL}{body['id']}/"
    assert maintainer_client.get(body["url"]).json()["status"] == "queued"


def test_a_finished_job_reads_with_its_metrics_and_the_version_it_made(maintainer_client, reader_client, trump):
    started = maintainer_client.post(URL, {"version": 1, "dataset": "trump", "message": "pre-trained"}, format="json")
    training.run(started.json()["id"])
    body = reader_client.get(started.json()["url"]).json()
    assert (body["status"], body["progress"], body["rows_done"], body["result_version"]) == ("succeeded", 1.0, 120, 2)
    assert body["metrics"]["n_scored"] == 120 and set(body["metrics"]["values"]) == {"MAE", "RMSE", "SMAPE"}
    listed = reader_client.get(URL).json()["results"]
    assert [job["id"] for job in listed] == [body["id"]]
    # and the versions list shows the lineage, the dataset, the params and the metrics side by side
    versions = reader_client.get("/api/v1/models/trump/versions/?numbers=1,2").json()["results"]
    assert [(v["number"], v["parent"], v["dataset"], v["params"]) for v in versions] == [
        (2, 1, {"id": trump.pk, "name": "trump"}, {}),
        (1, None, None, {}),
    ]
    assert versions[0]["training_metrics"] == body["metrics"] and versions[0]["message"] == "pre-trained"
    assert versions[1]["training_metrics"] == {}


def test_versions_numbers_that_are_not_numbers_answer_400(reader_client, trump):
    response = reader_client.get("/api/v1/models/trump/versions/?numbers=2,x")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "numbers"
    assert "separated by commas" in response.json()["error"]["message"]


def test_cancelling_a_queued_job_answers_200_and_a_finished_one_409(maintainer_client, trump):
    started = maintainer_client.post(URL, {"version": 1, "dataset": trump.pk}, format="json").json()
    cancelled = maintainer_client.post(f"{started['url']}cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = maintainer_client.post(f"{started['url']}cancel")
    assert again.status_code == 409
    assert (
        again.json()["error"]["message"]
        == f"training job {started['id']} has already cancelled: there is nothing to cancel"
    )


def test_cancelling_a_running_job_answers_202_and_asks_it_to_stop(maintainer_client, trump):
    from serving.models import TrainingJob

    started = maintainer_client.post(URL, {"version": 1, "dataset": trump.pk}, format="json").json()
    TrainingJob.objects.filter(pk=started["id"]).update(status="running")
    response = maintainer_client.post(f"{started['url']}cancel")
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["cancel_requested"]) == ("running", True)


def test_reading_needs_a_login_and_training_needs_the_upload_permission(anon_client, reader_client, trump):
    assert anon_client.get(URL).status_code == 401
    assert reader_client.get(URL).status_code == 200
    refused = reader_client.post(URL, {"version": 1, "dataset": trump.pk}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == (
        "training a version (it makes a new version) needs the catalogue.add_modelversion permission"
    )


def test_promote_true_needs_the_promote_permission_too(trump):
    from tests.conftest import client_for

    uploader = factories.UserFactory(username="uploader", permissions=["add_modelversion"])
    client = client_for(uploader)
    refused = client.post(URL, {"version": 1, "dataset": trump.pk, "promote": True}, format="json")
    assert refused.status_code == 403
    assert (
        refused.json()["error"]["message"]
        == "training with promote: true needs the catalogue.change_mlmodel permission"
    )
    assert client.post(URL, {"version": 1, "dataset": trump.pk}, format="json").status_code == 202


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"version": 1}, "dataset", "This field is required."),
        ({"version": 1, "dataset": [1]}, "dataset", "must be a dataset's id"),
        ({"version": 1, "dataset": 999}, "dataset", "there is no dataset 999"),
        ({"version": 7, "dataset": "trump"}, "version", "trump has no version 7"),
        ({"version": 1, "dataset": "trump", "from": "now"}, "from", "is not a valid choice"),
        ({"version": 1, "dataset": "trump", "kind": "tune"}, "kind", "is not a valid choice"),
        ({"version": 1, "dataset": "trump", "params": 3}, "params", "Expected a dictionary"),
        ({"version": 1, "dataset": "trump", "from": "live", "params": {"a": 1}}, "params", "one or the other"),
        ({"version": 1, "dataset": "trump", "holdout": 1.5}, "holdout", "holdout must be a number from 0"),
        ({"version": 1, "dataset": "trump", "epochs": 3}, "epochs", "unknown field"),
        ({"version": 1, "dataset": "trump", "params": {"l9": 1}}, "params", "the model has no parameter 'l9'"),
        ({"version": 1, "dataset": "trump", "method": "fit"}, "method", "method is for scikit-learn"),
    ],
)
def test_bad_input_answers_400_naming_the_field(maintainer_client, trump, body, field, message):
    response = maintainer_client.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["field"] == field and message in error["message"], error


def test_an_unknown_model_or_job_answers_404(maintainer_client, trump):
    assert maintainer_client.get("/api/v1/models/nope/jobs/").status_code == 404
    missing = maintainer_client.get(f"{URL}12345/")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "trump has no training job 12345"


def test_deleting_a_dataset_a_version_was_trained_on_answers_409(maintainer_client, trump):
    started = maintainer_client.post(URL, {"version": 1, "dataset": trump.pk}, format="json").json()
    training.run(started["id"])
    response = maintainer_client.delete(f"/api/v1/datasets/{trump.pk}/")
    assert response.status_code == 409
    assert (
        response.json()["error"]["message"] == "dataset 'trump' is the training data of versions that keep it: trump v2"
    )


def test_a_scikit_learn_job_takes_its_method_and_holdout(maintainer_client, db):
    from sklearn.linear_model import SGDRegressor

    model = factories.MLModelFactory(name="trump", flavor="regression")
    factories.ModelVersionFactory(model=model, artifact=dill.dumps(SGDRegressor(random_state=0)))
    from catalogue.datasets.services import dataset_create

    dataset = dataset_create(name="t", content=csv_bytes(trump_rows(100)), target="approval")
    started = maintainer_client.post(
        URL, {"version": 1, "dataset": dataset.pk, "method": "partial_fit", "holdout": 0.1}, format="json"
    ).json()
    training.run(started["id"])
    body = maintainer_client.get(started["url"]).json()
    assert (body["status"], body["method"], body["metrics"]["n_train"], body["metrics"]["n_holdout"]) == (
        "succeeded",
        "partial_fit",
        90,
        10,
    )
    assert "score" in body["metrics"]
