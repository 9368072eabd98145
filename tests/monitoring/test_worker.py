"""Monitoring's worker: observers of the serving core only enqueue; one thread per process runs the jobs."""

import threading

import pytest

import serving
from monitoring import alerts, events, history, prometheus, worker
from monitoring.models import DriftPoint, MetricSnapshot
from serving import observers
from serving.process import current

# Jobs run on the worker's own connection: the data they read must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def blocked():
    """The worker busy with a job that waits until ``release`` is set (what it queues meanwhile waits too)."""
    release, started = threading.Event(), threading.Event()

    def hold():
        started.set()
        release.wait(10)

    worker.monitor().submit(hold)
    assert started.wait(10)
    yield release
    release.set()


def test_a_learn_returns_before_its_snapshot_is_written(live, blocked):
    # Given a worker busy elsewhere
    # When the model learns
    serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
    # Then the learn has returned without writing its snapshot: the snapshot waits in the queue
    assert not MetricSnapshot.objects.exists()
    blocked.set()
    assert worker.drain()
    assert MetricSnapshot.objects.get().state_seq == 1


def test_drift_records_need_no_model_lock(live, blocked, settings):
    settings.RHYTHMIC_SNAPSHOT_SECONDS = settings.RHYTHMIC_ALERT_EVAL_SECONDS = 3600
    # Given drifts detected while the worker was busy (and this interval's snapshot and evaluation taken:
    # those read the replica's metrics, under its lock, on the worker)
    settings.RHYTHMIC_CHECKPOINT_EVERY = 10_000
    for kind in ("snapshot", "alerts"):
        worker.monitor().due(kind, "live", every=3600)
    for start in range(0, 500, 100):
        items = []
        for step in range(start, start + 100):
            x = (step * 7 % 20) / 2
            items.append({"features": {"x": x}, "ground_truth": 2 * x if step < 300 else 50 - 2 * x})
        serving.learn_many(model="live", items=items)
    assert not DriftPoint.objects.exists()
    # When the worker runs them while a request holds the model's lock
    entry = current().replicas.entry("live")
    with entry.lock:
        blocked.set()
        drained = worker.drain()
    # Then they were recorded all the same
    assert drained
    assert DriftPoint.objects.exists()


def test_drain_waits_for_the_jobs_that_jobs_queue():
    ran = []

    def second():
        ran.append("second")

    def first():
        ran.append("first")
        worker.monitor().submit(second)

    worker.monitor().submit(first)
    assert worker.drain()
    assert ran == ["first", "second"]


def test_a_failing_job_is_logged_and_the_next_one_runs(caplog):
    ran = []

    def broken():
        raise RuntimeError("boom")

    worker.monitor().submit(broken)
    worker.monitor().submit(lambda: ran.append(True))
    assert worker.drain()
    assert ran == [True]
    assert "monitoring job" in caplog.text


def test_a_reset_drops_the_queued_jobs_as_a_restart_would(blocked):
    # Given a job queued behind a running one
    ran = []
    worker.monitor().submit(lambda: ran.append(True))
    # When the process resets (the running job finishes first)
    blocked.set()
    current().reset()
    # Then the queued job never ran
    assert worker.drain()
    assert ran == []


def test_items_submitted_under_one_key_while_its_job_waits_are_handled_by_that_job(blocked):
    ran = []
    # Given three items of one key and one of another, submitted while the worker is busy
    for n in range(3):
        worker.monitor().submit_batched(("key",), ran.append, n)
    worker.monitor().submit_batched(("other",), ran.append, "other")
    # When the worker runs them
    blocked.set()
    assert worker.drain()
    # Then one job got the key's three items, in order, and another the other key's
    assert ran == [[0, 1, 2], ["other"]]
    # And an item submitted after that job started goes to a job of its own
    worker.monitor().submit_batched(("key",), ran.append, 3)
    assert worker.drain()
    assert ran == [[0, 1, 2], ["other"], [3]]


def test_a_batch_dropped_by_a_reset_or_rolled_back_leaves_its_key_free(blocked):
    from django.db import transaction

    ran = []
    worker.monitor().submit_batched(("key",), ran.append, "dropped")
    blocked.set()
    current().reset()
    with pytest.raises(RuntimeError), transaction.atomic():
        worker.monitor().submit_batched(("key",), ran.append, "rolled back")
        raise RuntimeError
    worker.monitor().submit_batched(("key",), ran.append, "runs")
    assert worker.drain()
    assert ran == [["runs"]]


def test_a_batch_that_drifted_several_times_records_them_together_and_evaluates_the_rules_once(
    live, blocked, monkeypatch
):
    evaluated, published = [], []
    monkeypatch.setattr(alerts, "evaluate_rules", lambda **kwargs: evaluated.append(kwargs))
    monkeypatch.setattr(events, "publish", lambda event, **kwargs: published.append(event))
    version = live.versions.get()
    # Given three drifts reported while the worker was busy, one of them twice (another replica, a replay)
    for seq in (1, 2, 2, 3):
        events.on_drift(model="live", model_id=live.pk, version_id=version.pk, version=1, seq=seq, n_drifts=seq)
    # When the worker records them
    blocked.set()
    assert worker.drain()
    # Then each point was recorded and announced once, and the rules evaluated once, after all of them
    assert sorted(DriftPoint.objects.values_list("seq", flat=True)) == [1, 2, 3]
    assert [event["seq"] for event in published] == [1, 2, 3]
    assert published[0] == {"type": "drift", "model": "live", "version": 1, "seq": 1, "n_drifts": 1}
    assert evaluated == [{"model": "live", "signals": ("drift",)}]


def test_a_job_queued_inside_a_transaction_waits_for_its_commit():
    from django.db import transaction

    ran = []
    with transaction.atomic():
        worker.monitor().submit(lambda: ran.append(True))
        assert worker.drain()
        assert ran == []  # not queued yet: the transaction could still roll back
    assert worker.drain()
    assert ran == [True]


def test_monitoring_subscribes_its_observers_in_one_defined_order():
    # The order is MonitoringConfig.ready's, whichever module was imported first.
    assert observers._observers["learn"][:4] == [
        prometheus.on_learn,
        events.on_learn,
        history.on_learn,
        alerts.on_learn,
    ]
    assert observers._observers["drift"][:1] == [events.on_drift]


def test_jobs_in_a_burst_share_one_connection_and_a_reset_closes_it():
    from django.db import connection

    seen = []

    def job():
        connection.ensure_connection()
        seen.append(connection.connection)

    # Given two jobs one after the other
    worker.monitor().submit(job)
    assert worker.drain()
    worker.monitor().submit(job)
    assert worker.drain()
    # When the process resets, then a job after it
    current().reset()
    worker.monitor().submit(job)
    assert worker.drain()

    # Then the burst reused the worker's connection, and the reset left none open
    assert seen[0] is seen[1]
    assert seen[2] is not seen[1]
