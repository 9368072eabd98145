"""Training jobs: a version learns a dataset into version N+1, exactly as river would, with lineage."""

import copy
import itertools
from datetime import timedelta

import dill
import pytest
from django.utils import timezone
from river import datasets, evaluate, linear_model, metrics, preprocessing

import serving
from catalogue import services
from catalogue.datasets.services import dataset_create, dataset_delete
from catalogue.errors import Conflict, InvalidInput
from catalogue.models import ModelVersion
from serving import observers, training
from serving.models import TrainingJob
from tests import factories
from tests.training import csv_bytes, trump_dataset, trump_rows

pytestmark = pytest.mark.django_db


def pipeline(**kwargs):
    return preprocessing.StandardScaler() | linear_model.LinearRegression(**kwargs)


def regression_model(obj=None, *, name: str = "trump", promote: bool = False):
    model = factories.MLModelFactory(name=name, flavor="regression")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj if obj is not None else pipeline()))
    if promote:
        services.deployment_promote(version=version)
    return model, version


def trained(model, **kwargs) -> TrainingJob:
    """Start a job and run it here (the test's transaction never commits, so nothing else runs it)."""
    job = training.training_start(model=model, **kwargs)
    assert training.run(job.pk) in TrainingJob.FINISHED
    return TrainingJob.objects.select_related("result").get(pk=job.pk)


def loaded(version: ModelVersion):
    return dill.loads(bytes(ModelVersion.objects.get(pk=version.pk).artifact))


def in_process(rows, model=None):
    model = model if model is not None else pipeline()
    for x, y in rows:
        model.learn_one(x, y)
    return model


def test_a_river_pipeline_trained_on_a_csv_predicts_as_the_same_pipeline_trained_in_process():
    # Given v1, an untrained pipeline, and a CSV of 300 TrumpApproval rows
    model, v1 = regression_model()
    dataset = trump_dataset(n=300)
    # When a job trains v1 on it
    job = trained(model, version=1, dataset=dataset.pk)
    # Then it made v2, whose predictions equal the pipeline trained in-process on the same rows
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    assert (job.rows_done, job.rows_total, job.progress, job.method) == (300, 300, 1.0, "learn_one")
    v2 = job.result
    assert v2.number == 2 and v2.parent_id == v1.pk and v2.status == ModelVersion.Status.READY
    expected = in_process(trump_rows(300))
    for x, _ in trump_rows(50, skip=300):
        assert loaded(v2).predict_one(x) == pytest.approx(expected.predict_one(x), rel=1e-12)
    assert loaded(v2).predict_one(trump_rows(1, skip=900)[0][0]) == expected.predict_one(trump_rows(1, skip=900)[0][0])


def test_the_jobs_metrics_equal_rivers_progressive_validation_on_the_same_rows():
    model, _ = regression_model()
    dataset = trump_dataset(n=300)
    job = trained(model, version=1, dataset=dataset.pk)
    for name in ("MAE", "RMSE", "SMAPE"):
        expected = getattr(metrics, name)()
        evaluate.progressive_val_score(trump_rows(300), pipeline(), expected)
        assert job.metrics["values"][name] == pytest.approx(expected.get(), rel=1e-9), name
    assert job.metrics["n_scored"] == 300 and job.metrics["start"] == "artifact"


def test_the_new_version_records_its_parent_dataset_params_and_training_metrics_and_is_not_promoted():
    model, v1 = regression_model(promote=True)
    dataset = trump_dataset(n=120)
    job = trained(model, version=1, dataset=dataset.pk, params={"LinearRegression": {"l2": 0.1}}, message="l2")
    v2 = ModelVersion.objects.get(pk=job.result_id)
    assert (v2.parent_id, v2.dataset_id, v2.params, v2.message) == (
        v1.pk,
        dataset.pk,
        {"LinearRegression": {"l2": 0.1}},
        "l2",
    )
    assert v2.training_metrics == job.metrics and v2.training_metrics["values"]["MAE"] > 0
    assert loaded(v2)["LinearRegression"].l2 == 0.1
    model.refresh_from_db()
    assert model.production_version_id == v1.pk


def test_params_of_a_river_model_re_create_it_and_match_river_trained_with_them():
    model, _ = regression_model()
    dataset = trump_dataset(n=100)
    job = trained(model, version=1, dataset=dataset.pk, params={"LinearRegression": {"l2": 0.5}})
    expected = in_process(trump_rows(100), pipeline(l2=0.5))
    x = trump_rows(1, skip=100)[0][0]
    assert loaded(job.result).predict_one(x) == pytest.approx(expected.predict_one(x), rel=1e-12)


def test_an_unknown_parameter_is_refused_before_any_job_saying_which_parameters_exist():
    model, _ = regression_model()
    with pytest.raises(InvalidInput) as refused:
        training.training_start(
            model=model, version=1, dataset=trump_dataset(n=10).pk, params={"LinearRegression": {"l3": 1}}
        )
    assert refused.value.field == "params"
    assert "params.LinearRegression: the model has no parameter 'l3'" in str(refused.value) and "l2" in str(
        refused.value
    )
    assert not TrainingJob.objects.exists()


def test_a_method_for_a_river_model_is_refused_before_any_job():
    model, _ = regression_model()
    with pytest.raises(InvalidInput, match="is a river model: it learns row by row") as refused:
        training.training_start(model=model, version=1, dataset=trump_dataset(n=10).pk, method="fit")
    assert refused.value.field == "method"
    assert not TrainingJob.objects.exists()


def test_promote_true_puts_the_trained_version_in_production():
    model, _ = regression_model(promote=True)
    job = trained(model, version=1, dataset=trump_dataset(n=50).pk, promote=True)
    model.refresh_from_db()
    assert job.status == TrainingJob.Status.SUCCEEDED and model.production_version_id == job.result_id
    assert model.deployments.first().note == f"training job {job.pk}"


def test_a_warm_start_from_the_live_state_equals_in_process_training_continued_from_that_state():
    # Given v1 in production, which learned 200 TrumpApproval events live
    model, _ = regression_model(promote=True)
    for x, y in trump_rows(200):
        serving.learn(model="trump", features=x, ground_truth=y)
    # When it trains from its live state on the next 300 rows
    job = trained(model, version=1, dataset=trump_dataset(n=300, skip=200).pk, start="live")
    # Then the new version equals the same pipeline trained in-process on the 200, then the 300
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    assert job.metrics["start"] == "live" and job.metrics["state_seq"] == 200
    expected = in_process(trump_rows(300, skip=200), in_process(trump_rows(200)))
    for x, _ in trump_rows(20, skip=500):
        assert loaded(job.result).predict_one(x) == pytest.approx(expected.predict_one(x), rel=1e-12)
    # and its prequential metrics are those of the continued model on the 300 rows
    mae = metrics.MAE()
    evaluate.progressive_val_score(trump_rows(300, skip=200), in_process(trump_rows(200)), mae)
    assert job.metrics["values"]["MAE"] == pytest.approx(mae.get(), rel=1e-9)
    # while the live state itself did not change
    assert serving.metrics(model="trump")["n_learned"] == 200


def test_a_binary_classifier_trains_and_scores_as_progressive_validation():
    rows = list(itertools.islice(datasets.Phishing(), 200))
    model = factories.MLModelFactory(name="phish", flavor="binary")
    obj = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj))
    dataset = dataset_create(
        name="phishing", content=csv_bytes([(x, str(y).lower()) for x, y in rows], target="phished"), target="phished"
    )
    job = trained(model, version=1, dataset=dataset.pk)
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    for name in ("Accuracy", "LogLoss", "F1"):
        expected = getattr(metrics, name)()
        evaluate.progressive_val_score(rows, copy.deepcopy(obj), expected)
        assert job.metrics["values"][name] == pytest.approx(expected.get(), rel=1e-9), name


def test_progress_is_reported_after_every_chunk_and_a_cancel_stops_the_job_there(settings):
    settings.RHYTHMIC_TRAINING_CHUNK = 50
    model, _ = regression_model()
    job = training.training_start(model=model, version=1, dataset=trump_dataset(n=300).pk)
    seen = []

    def cancel_at_100(*, model, job):
        seen.append((job["status"], job["rows_done"]))
        if job["rows_done"] == 100 and job["status"] == "running":
            training.training_cancel(job=TrainingJob.objects.get(pk=job["id"]))

    observers.subscribe("training", cancel_at_100)
    try:
        assert training.run(job.pk) == TrainingJob.Status.CANCELLED
    finally:
        observers._observers["training"].remove(cancel_at_100)
    job.refresh_from_db()
    assert (job.status, job.rows_done, job.result_id) == ("cancelled", 100, None)
    assert ("running", 50) in seen and seen[-1] == ("cancelled", 100)
    assert model.versions.count() == 1


def test_a_queued_job_cancels_at_once_and_a_finished_one_cannot_be_cancelled():
    model, _ = regression_model()
    job = training.training_start(model=model, version=1, dataset=trump_dataset(n=10).pk)
    assert training.training_cancel(job=job).status == TrainingJob.Status.CANCELLED
    assert training.run(job.pk) == TrainingJob.Status.CANCELLED  # a runner arriving later leaves it so
    with pytest.raises(Conflict, match="has already cancelled"):
        training.training_cancel(job=job)


def test_a_running_job_whose_runner_stopped_reads_as_failed_never_running_forever(settings):
    model, _ = regression_model()
    job = training.training_start(model=model, version=1, dataset=trump_dataset(n=10).pk)
    long_ago = timezone.now() - timedelta(seconds=settings.RHYTHMIC_TRAINING_STALE_SECONDS + 1)
    TrainingJob.objects.filter(pk=job.pk).update(
        status="running", started_at=long_ago, heartbeat_at=long_ago, rows_done=4
    )
    found = training.training_get(model=model, job_id=job.pk)
    assert found.status == TrainingJob.Status.FAILED
    assert found.error == "its runner stopped (worker killed or restarted?) at row 4 of 10; start it again"


def test_scikit_learn_fits_with_the_params_as_keyword_arguments_and_scores_a_holdout():
    from sklearn.linear_model import SGDRegressor

    rows = trump_rows(200)
    model = factories.MLModelFactory(name="sk", flavor="regression")
    estimator = SGDRegressor(random_state=0).fit([[0.0] * 6], [0.0])
    factories.ModelVersionFactory(model=model, artifact=dill.dumps(estimator))
    dataset = trump_dataset(n=200)
    weights = [1.0] * 150
    job = trained(model, version=1, dataset=dataset.pk, params={"sample_weight": weights}, holdout=0.25)
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    names = sorted(rows[0][0])
    X = [[x[n] for n in names] for x, _ in rows]
    y = [v for _, v in rows]
    expected = SGDRegressor(random_state=0).fit([[0.0] * 6], [0.0]).fit(X[:150], y[:150], sample_weight=weights)
    assert (job.method, job.metrics["n_train"], job.metrics["n_holdout"]) == ("fit", 150, 50)
    assert job.metrics["score"] == pytest.approx(expected.score(X[150:], y[150:]), rel=1e-9)
    mae = sum(abs(p - t) for p, t in zip(expected.predict(X[150:]), y[150:], strict=True)) / 50
    assert job.metrics["values"]["MAE"] == pytest.approx(mae, rel=1e-9)
    assert loaded(job.result).predict([X[0]])[0] == pytest.approx(expected.predict([X[0]])[0], rel=1e-12)


def test_scikit_learn_partial_fit_learns_chunk_by_chunk_when_asked(settings):
    from sklearn.linear_model import SGDRegressor

    settings.RHYTHMIC_TRAINING_CHUNK = 40
    model = factories.MLModelFactory(name="sk", flavor="regression")
    factories.ModelVersionFactory(model=model, artifact=dill.dumps(SGDRegressor(random_state=0)))
    job = trained(model, version=1, dataset=trump_dataset(n=100).pk, method="partial_fit", holdout=0)
    rows = trump_rows(100)
    names = sorted(rows[0][0])
    expected = SGDRegressor(random_state=0)
    for start in range(0, 100, 40):
        chunk = rows[start : start + 40]
        expected.partial_fit([[x[n] for n in names] for x, _ in chunk], [v for _, v in chunk])
    x = [rows[0][0][n] for n in names]
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error
    assert loaded(job.result).predict([x])[0] == pytest.approx(expected.predict([x])[0], rel=1e-12)
    assert "score" not in job.metrics


def test_a_scikit_learn_model_without_partial_fit_is_refused_saying_so():
    from sklearn.linear_model import LinearRegression

    model = factories.MLModelFactory(name="sk", flavor="regression")
    factories.ModelVersionFactory(model=model, artifact=dill.dumps(LinearRegression().fit([[0.0] * 6], [0.0])))
    with pytest.raises(InvalidInput) as refused:
        training.training_start(model=model, version=1, dataset=trump_dataset(n=20).pk, method="partial_fit")
    assert refused.value.field == "method"
    assert str(refused.value) == "v1 (LinearRegression) has no partial_fit: it cannot train that way"


def test_a_dataset_a_version_was_trained_on_cannot_be_deleted():
    model, _ = regression_model()
    dataset = trump_dataset(n=10)
    trained(model, version=1, dataset=dataset.pk)
    with pytest.raises(Conflict, match="is the training data of versions that keep it: trump v2"):
        dataset_delete(dataset=dataset)


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"version": 9}, "version", "trump has no version 9"),
        ({"version": "1"}, "version", "version must be a whole number"),
        ({"dataset": 999}, "dataset", "there is no dataset 999"),
        ({"dataset": None}, "dataset", "dataset must be a dataset's id"),
        ({"start": "yesterday"}, "from", "from must be 'artifact' or 'live'"),
        ({"params": [1]}, "params", "params must be a JSON object"),
        ({"start": "live", "params": {"l2": 1}}, "params", "give one or the other"),
        ({"method": "fit_one"}, "method", "method must be 'fit' or 'partial_fit'"),
        ({"holdout": 1}, "holdout", "holdout must be a number from 0"),
        ({"kind": "tune"}, "kind", "kind must be one of: train"),
    ],
)
def test_bad_input_is_refused_naming_the_field(kwargs, field, message):
    model, _ = regression_model()
    dataset = trump_dataset(n=10)
    arguments = {"version": 1, "dataset": dataset.pk, **kwargs}
    with pytest.raises(InvalidInput, match=message) as refused:
        training.training_start(model=model, **arguments)
    assert refused.value.field == field
    assert not TrainingJob.objects.exists()


def test_a_version_not_validated_yet_cannot_train():
    model, v1 = regression_model()
    ModelVersion.objects.filter(pk=v1.pk).update(status=ModelVersion.Status.PENDING)
    with pytest.raises(Conflict, match="still being validated"):
        training.training_start(model=model, version=1, dataset=trump_dataset(n=10).pk)


def test_a_dataset_can_be_named_instead_of_its_id():
    model, _ = regression_model()
    trump_dataset(n=10)
    assert trained(model, version=1, dataset="trump").status == TrainingJob.Status.SUCCEEDED
