"""Metric snapshots of every learning version: production, the canary and the challengers side by side."""

import dill
import pytest
from river import dummy, linear_model, preprocessing, stats

import serving
from catalogue import services
from monitoring import history, worker
from monitoring.models import MetricSnapshot
from tests import factories

# Snapshots are written by monitoring's worker thread, on its own connection: the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def model_with_challenger_and_canary():
    """v1 in production (a linear regression), v2 a challenger (a mean), v3 the canary (another regression)."""
    model = factories.MLModelFactory(name="live")
    linear = preprocessing.StandardScaler() | linear_model.LinearRegression()
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(linear))
    v2 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(dummy.StatisticRegressor(stats.Mean())))
    v3 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(linear_model.LinearRegression()))
    services.deployment_promote(version=v1)
    services.challenger_add(version=v2)
    services.canary_set(version=v3, percent=50)
    return model


def snapshots_by_version() -> dict[int, list[tuple[int, dict]]]:
    found: dict[int, list[tuple[int, dict]]] = {}
    for snapshot in MetricSnapshot.objects.select_related("version").order_by("state_seq", "version__number"):
        found.setdefault(snapshot.version.number, []).append((snapshot.state_seq, snapshot.metrics))
    return found


def test_a_learn_snapshots_production_the_canary_and_the_challengers(settings):
    # Given production, a challenger and a canary, and snapshots after every learn
    settings.RHYTHMIC_SNAPSHOT_SECONDS = 0
    model_with_challenger_and_canary()
    # When the model learns three events by id (each answered by production or the canary)
    for x in range(3):
        serving.predict(model="live", features={"x": float(x)}, id=f"event-{x}")
        serving.learn(model="live", id=f"event-{x}", ground_truth=2.0 * x + 1)
        assert worker.drain()
    # Then every learning version has a snapshot at every state, with its own live metrics at the end
    found = snapshots_by_version()
    assert sorted(found) == [1, 2, 3]
    for number in (1, 2, 3):
        assert [seq for seq, _ in found[number]] == [1, 2, 3]
        assert found[number][-1][1] == serving.metrics(model="live", version=number)["metrics"]


def test_a_learn_answered_by_production_alone_still_snapshots_a_challenger_added_after_its_prediction(settings):
    # Given a prediction stored before the challenger existed (so it has no prediction of the challenger's)
    settings.RHYTHMIC_SNAPSHOT_SECONDS = 0
    model = factories.MLModelFactory(name="live")
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(linear_model.LinearRegression()))
    v2 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(dummy.StatisticRegressor(stats.Mean())))
    services.deployment_promote(version=v1)
    serving.predict(model="live", features={"x": 1.0}, id="early")
    serving.learn(model="live", features={"x": 2.0}, ground_truth=1.0)
    assert worker.drain()
    services.challenger_add(version=v2)
    serving.learn(model="live", features={"x": 3.0}, ground_truth=2.0)  # loads the challenger beside production
    assert worker.drain()
    # When the early id is learned: only production answered it
    serving.learn(model="live", id="early", ground_truth=3.0)
    assert worker.drain()
    # Then the snapshot at that state includes the challenger too
    assert [seq for seq, _ in snapshots_by_version()[2]] == [2, 3]


def test_the_periodic_task_snapshots_the_canary_and_the_challengers_too(settings):
    # Given learns that the throttle kept from being snapshotted
    settings.RHYTHMIC_SNAPSHOT_SECONDS = 3600
    model_with_challenger_and_canary()
    serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
    assert worker.drain()
    serving.learn(model="live", features={"x": 2.0}, ground_truth=3.0)
    assert worker.drain()
    # When the periodic task runs
    history.snapshot_models()
    # Then the newest state is stored for each learning version
    found = snapshots_by_version()
    assert {number: found[number][-1][0] for number in found} == {1: 2, 2: 2, 3: 2}
