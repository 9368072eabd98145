"""The serving models moved from catalogue with their data: a database written by the schema before the move
serves the same predictions and metrics after it."""

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

import serving
from catalogue import artifacts
from catalogue.flavors import get_flavor
from serving.codec import encode_prediction
from serving.online_metrics import OnlineMetrics
from tests.factories import river_regressor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_THE_MOVE = [("catalogue", "0006_label_coverage"), ("serving", None)]
STREAM = [({"x": float(i)}, 2.0 * i + 1.0) for i in range(12)]
CHECKPOINTED = 8  # entries up to here are pruned: only the checkpoint holds them


def _migrate(targets):
    """Migrate the test database to ``targets``; the apps of catalogue's state there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


def _populate(apps) -> tuple[float, dict]:
    """Write a served model as the old schema held it; return the prediction and metrics it must serve."""
    MLModel, ModelVersion = apps.get_model("catalogue", "MLModel"), apps.get_model("catalogue", "ModelVersion")
    LearnEvent, Checkpoint = apps.get_model("catalogue", "LearnEvent"), apps.get_model("catalogue", "Checkpoint")
    PendingPrediction = apps.get_model("catalogue", "PendingPrediction")
    data = artifacts.dump_state(river_regressor())
    model = MLModel.objects.create(name="moved", flavor="regression", version_counter=1, learn_seq=len(STREAM))
    version = ModelVersion.objects.create(
        model=model,
        number=1,
        artifact=data,
        format="dill",
        sha256=artifacts.sha256_of(data),
        size=len(data),
        status="ready",
    )
    MLModel.objects.filter(pk=model.pk).update(production_version=version)
    reference, metrics = artifacts.load_state(data), OnlineMetrics(get_flavor("regression"))
    for seq, (features, truth) in enumerate(STREAM, start=1):
        prediction = reference.predict_one(features)
        metrics.fold(truth, prediction, seq=seq)
        reference.learn_one(features, truth)
        if seq == CHECKPOINTED:
            Checkpoint.objects.create(
                version=version,
                seq=seq,
                n_learned=seq,
                state=artifacts.dump_state(reference),
                metrics=artifacts.dump_state(metrics),
            )
        elif seq > CHECKPOINTED:
            LearnEvent.objects.create(
                model=model,
                seq=seq,
                version=version,
                key=None,
                features=features,
                ground_truth=truth,
                prediction=encode_prediction(prediction),
            )
    PendingPrediction.objects.create(
        model=model,
        key=json.dumps("waiting"),
        version=version,
        features={"x": 3.0},
        prediction=encode_prediction(reference.predict_one({"x": 3.0})),
        created_at=model.created_at,
    )
    return reference.predict_one({"x": 0.5}), metrics.values()


def test_a_database_of_the_schema_before_the_move_serves_the_same_predictions_and_metrics_after_it(settings):
    # Given a database at the schema before the move, populated through that schema's models
    settings.RHYTHMIC_PENDING_TTL = 10**9  # the pending prediction's time is the model's creation
    old_apps = _migrate(BEFORE_THE_MOVE)
    try:
        prediction, metrics = _populate(old_apps)
    finally:
        # When it migrates forward
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    # Then it serves what it served: the checkpoint, the log tail and the pending prediction carried over
    answer = serving.predict(model="moved", features={"x": 0.5})
    assert (answer.prediction, answer.state_seq) == (pytest.approx(prediction), len(STREAM))
    served = serving.metrics(model="moved")
    assert served["metrics"] == pytest.approx(metrics)
    assert served["n_learned"] == len(STREAM)
    assert serving.learn(model="moved", id="waiting", ground_truth=7.0).seq == len(STREAM) + 1
