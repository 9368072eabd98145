"""Metric history: snapshots written on learn (throttled), by the periodic task, and served with drift points."""

from datetime import timedelta

import dill
import pytest
from django.utils import timezone
from river import linear_model, preprocessing

import serving
from catalogue import services
from monitoring import history, worker
from monitoring import services as monitoring_services
from monitoring.models import DriftPoint, MetricSnapshot
from monitoring.tasks import prune_history, snapshot_models
from tests import factories

# Snapshots are written by monitoring's worker thread, on its own connection: the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


def live_model(name="live"):
    model = factories.MLModelFactory(name=name)
    obj = preprocessing.StandardScaler() | linear_model.LinearRegression()
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj))
    services.deployment_promote(version=version)
    return model


def url(name="live", **query):
    params = "&".join(f"{key}={value}" for key, value in query.items())
    return f"/api/v1/models/{name}/metrics/history" + (f"?{params}" if params else "")


def test_a_learn_writes_a_snapshot_of_the_versions_metrics_and_stats():
    # Given a live model
    live_model()
    serving.predict(model="live", features={"x": 1.0})
    # When it learns once
    serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
    assert worker.drain()
    # Then a snapshot holds its metrics at that state, and this process's request stats so far
    snapshot = MetricSnapshot.objects.get()
    assert (snapshot.version.number, snapshot.state_seq, snapshot.n_learned) == (1, 1, 1)
    assert snapshot.metrics["MAE"] == 2.0
    assert snapshot.stats["predict"]["count"] == 1
    assert set(snapshot.stats["predict"]) == {"count", "mean", "p50", "p95", "p99"}


def test_learns_within_the_snapshot_interval_write_one_snapshot(settings):
    settings.RHYTHMIC_SNAPSHOT_SECONDS = 3600
    live_model()
    for _ in range(3):
        serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
        assert worker.drain()
    assert MetricSnapshot.objects.count() == 1


def test_with_no_interval_every_learn_writes_a_snapshot(settings):
    settings.RHYTHMIC_SNAPSHOT_SECONDS = 0
    live_model()
    for _ in range(3):
        serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
        assert worker.drain()
    assert list(MetricSnapshot.objects.values_list("state_seq", flat=True)) == [1, 2, 3]


def test_processes_at_the_same_state_store_one_snapshot():
    # Given a model that learned
    live_model()
    serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
    assert worker.drain()
    # When another process (here: the same state again) snapshots it at that state
    history.snapshot_model("live")
    history.snapshot_model("live")
    # Then the state is stored once
    assert MetricSnapshot.objects.count() == 1


def test_the_periodic_task_snapshots_a_model_that_learned_since_its_last_snapshot(settings):
    settings.RHYTHMIC_SNAPSHOT_SECONDS = 3600
    live_model()
    serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
    assert worker.drain()  # the snapshot job takes the state as it finds it: let it run before the next learn
    serving.learn(model="live", features={"x": 1.0}, ground_truth=4.0)  # throttled: not snapshotted
    assert worker.drain()
    snapshot_models.delay()
    assert list(MetricSnapshot.objects.values_list("state_seq", flat=True)) == [1, 2]


def test_the_periodic_task_skips_models_with_nothing_new():
    live_model()
    live_model("idle")
    serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
    assert worker.drain()
    assert history.snapshot_models() == 0
    assert MetricSnapshot.objects.count() == 1


def test_pruning_removes_snapshots_older_than_the_history_days(settings):
    settings.RHYTHMIC_HISTORY_DAYS = 30
    live_model()
    serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
    assert worker.drain()
    MetricSnapshot.objects.update(created_at=timezone.now() - timedelta(days=31))
    assert prune_history.delay().get() == 1
    assert not MetricSnapshot.objects.exists()


# --- the endpoint ----------------------------------------------------------------------------------


@pytest.fixture
def learned(settings):
    """A live model with three snapshots, an hour apart, and a drift point."""
    settings.RHYTHMIC_SNAPSHOT_SECONDS = 0
    model = live_model()
    for truth in (2.0, 4.0, 6.0):
        serving.learn(model="live", features={"x": 1.0}, ground_truth=truth)
        assert worker.drain()
    now = timezone.now()
    for hours_ago, snapshot in zip((3, 2, 1), MetricSnapshot.objects.order_by("state_seq"), strict=True):
        MetricSnapshot.objects.filter(pk=snapshot.pk).update(created_at=now - timedelta(hours=hours_ago))
    version = model.versions.get()
    monitoring_services.drift_point_record(model_id=model.pk, version_id=version.pk, seq=2, n_drifts=1)
    return model


def test_the_history_lists_snapshots_oldest_first_with_the_drifts(reader_client, learned):
    response = reader_client.get(url())
    assert response.status_code == 200
    body = response.json()
    assert [s["state_seq"] for s in body["snapshots"]] == [1, 2, 3]
    assert body["snapshots"][0]["metrics"]["MAE"] == 2.0
    assert body["snapshots"][0]["version"] == 1
    assert [(d["version"], d["seq"]) for d in body["drifts"]] == [(1, 2)]
    assert body["truncated"] is False


def test_the_history_since_a_time_leaves_out_older_snapshots(reader_client, learned):
    since = (timezone.now() - timedelta(minutes=150)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = reader_client.get(url(since=since)).json()
    assert [s["state_seq"] for s in body["snapshots"]] == [2, 3]


def test_the_history_accepts_an_offset_whose_plus_sign_was_not_encoded(reader_client, learned):
    since = (timezone.now() - timedelta(minutes=150)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    response = reader_client.get(url(since=since))
    assert response.status_code == 200
    assert [s["state_seq"] for s in response.json()["snapshots"]] == [2, 3]


def test_the_history_of_one_version_leaves_out_the_others(reader_client, learned):
    version = factories.ModelVersionFactory(model=learned)
    services.deployment_promote(version=version)
    serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
    assert worker.drain()
    body = reader_client.get(url(version=2)).json()
    assert [(s["version"], s["state_seq"]) for s in body["snapshots"]] == [(2, 4)]
    assert body["drifts"] == []


def test_the_history_keeps_the_newest_points_up_to_the_limit(reader_client, learned, settings):
    settings.RHYTHMIC_HISTORY_MAX_POINTS = 2
    body = reader_client.get(url()).json()
    assert [s["state_seq"] for s in body["snapshots"]] == [2, 3]
    assert body["truncated"] is True


@pytest.mark.parametrize("since", ["yesterday", "2025-13-01T00:00:00Z", "1700000000"])
def test_a_bad_since_is_refused_with_an_example(reader_client, learned, since):
    response = reader_client.get(url(since=since))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "since"
    assert "ISO 8601" in error["message"]


@pytest.mark.parametrize("version", ["two", "0", "-1", "1.5"])
def test_a_bad_version_is_refused(reader_client, learned, version):
    response = reader_client.get(url(version=version))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "version"


def test_a_version_the_model_does_not_have_is_not_found(reader_client, learned):
    response = reader_client.get(url(version=9))
    assert response.status_code == 404
    assert "no version 9" in response.json()["error"]["message"]


def test_the_history_of_an_unknown_model_is_not_found(reader_client, db):
    response = reader_client.get(url("ghost"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_history_needs_a_login(anon_client, learned):
    response = anon_client.get(url())
    assert response.status_code == 401
    assert "error" in response.json()


def test_a_drift_point_is_recorded_once(learned):
    version = learned.versions.get()
    again = monitoring_services.drift_point_record(model_id=learned.pk, version_id=version.pk, seq=2, n_drifts=1)
    assert again is None
    assert DriftPoint.objects.count() == 1
