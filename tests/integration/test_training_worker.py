"""Training jobs in a real Celery worker on PostgreSQL + Redis: started here, queued on Redis, run by another
process. Its results equal river in-process; its progress reaches this process live; a cancel stops a long job;
a worker killed mid-job leaves the job failed, never running forever."""

import asyncio
import os
import signal
import time
from datetime import timedelta

import dill
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone
from river import evaluate, metrics

import serving
from api.broadcast import events_group
from catalogue import services
from catalogue.datasets.services import dataset_create
from catalogue.models import ModelVersion
from serving import tasks, training
from serving.models import TrainingJob
from tests import factories
from tests.training import csv_bytes, trump_dataset, trump_rows

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"), reason="needs Redis and Postgres: set REDIS_URL and DATABASE_URL"
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def small_chunks(monkeypatch):
    """Request before ``training_worker``: its worker reports (and checks for a cancel) after every row."""
    monkeypatch.setenv("RHYTHMIC_TRAINING_CHUNK", "1")


@pytest.fixture
def training_worker(celery_worker, monkeypatch):
    """The worker of ``celery_worker``; training jobs queued by this test go to its private queue."""
    queue = celery_worker.queue
    monkeypatch.setattr(tasks.run_training, "delay", lambda *args: tasks.run_training.apply_async(args, queue=queue))
    return celery_worker


def pipeline():
    return factories.river_regressor()


def trump_model(*, promote: bool = True):
    model = factories.MLModelFactory(name="trump", flavor="regression")
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(pipeline()))
    if promote:
        services.deployment_promote(version=v1)
    return model


def in_process(rows, model=None):
    model = model if model is not None else pipeline()
    for x, y in rows:
        model.learn_one(x, y)
    return model


def artifact_of(number: int):
    return dill.loads(bytes(ModelVersion.objects.get(model__name="trump", number=number).artifact))


def started(**kwargs) -> TrainingJob:
    return training.training_start(model=serving_model(), **kwargs)


def started_on_a_thread(**kwargs) -> TrainingJob:
    """``started``, from a thread of its own, whose connection is closed after."""
    try:
        return started(**kwargs)
    finally:
        connection.close()


def serving_model():
    from catalogue.models import MLModel

    return MLModel.objects.get(name="trump")


async def _listen(group: str, ready: asyncio.Event, events: list, timeout: float, stop) -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    ready.set()
    try:
        while not events or not stop(events[-1]):
            message = await asyncio.wait_for(layer.receive(channel), timeout)
            if message["event"].get("type") == "training":
                events.append(message["event"])
    finally:
        await layer.group_discard(group, channel)


def finished(event: dict) -> bool:
    return event["status"] in ("succeeded", "failed", "cancelled")


def test_a_worker_trains_a_csv_of_trumpapproval_exactly_as_river_in_process_and_pushes_progress(
    training_worker, settings
):
    if "Redis" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        pytest.skip("live events cross processes through Redis")
    # Given v1, an untrained river pipeline, and a CSV of 600 TrumpApproval rows
    trump_model()
    dataset = dataset_create(name="trump", content=csv_bytes(trump_rows(600)), target="approval", filename="t.csv")
    events: list[dict] = []

    async def scenario() -> TrainingJob:
        ready = asyncio.Event()
        listener = asyncio.create_task(_listen(events_group("trump"), ready, events, 90, finished))
        await ready.wait()
        # When a job trains v1 on it: queued on the broker, run by the worker
        job = await asyncio.to_thread(started_on_a_thread, version=1, dataset=dataset.pk)
        await listener
        return job

    job = async_to_sync(scenario)()
    job = training.wait(job.pk, timeout=90)
    # Then the worker made v2, whose predictions equal the same pipeline trained in-process on the same rows
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error or training_worker.log()
    assert "Task serving.run_training[" in training_worker.log()
    expected = in_process(trump_rows(600))
    v2 = artifact_of(2)
    for x, _ in trump_rows(30, skip=600):
        assert v2.predict_one(x) == pytest.approx(expected.predict_one(x), rel=1e-12)
    # and its metrics equal river's progressive validation on those rows
    for name in ("MAE", "RMSE", "SMAPE"):
        metric = getattr(metrics, name)()
        evaluate.progressive_val_score(trump_rows(600), pipeline(), metric)
        assert job.metrics["values"][name] == pytest.approx(metric.get(), rel=1e-9), name
    # and its progress reached this process live, to the end
    assert any(e["status"] == "running" for e in events)
    assert (events[-1]["status"], events[-1]["rows_done"], events[-1]["result_version"]) == ("succeeded", 600, 2)
    assert ModelVersion.objects.get(model__name="trump", number=2).status == ModelVersion.Status.READY


def test_a_warm_start_in_the_worker_equals_in_process_training_continued_from_the_live_state(training_worker):
    # Given v1 in production, which learned 250 events here (the worker has never seen them)
    trump_model()
    for x, y in trump_rows(250):
        serving.learn(model="trump", features=x, ground_truth=y)
    dataset = trump_dataset(n=300, skip=250)
    # When the worker trains it from its live state on the next 300 rows
    job = training.wait(started(version=1, dataset=dataset.pk, start="live", promote=True).pk, timeout=90)
    # Then the new version equals the pipeline trained in-process on the 250, then on the 300
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error or training_worker.log()
    assert job.metrics["state_seq"] == 250
    expected = in_process(trump_rows(300, skip=250), in_process(trump_rows(250)))
    for x, _ in trump_rows(20, skip=550):
        assert artifact_of(2).predict_one(x) == pytest.approx(expected.predict_one(x), rel=1e-12)
    # and it is in production, learning on from there
    assert serving.predict(model="trump", features=trump_rows(1, skip=600)[0][0]).version == 2


def long_dataset():
    """TrumpApproval five times over: 5005 rows, a report after each in the worker (``small_chunks``)."""
    rows = trump_rows() * 5
    return dataset_create(name="long", content=csv_bytes(rows), target="approval", filename="long.csv")


def wait_until_running(job_id: int, worker) -> TrainingJob:
    """The job once its worker has reported a first row. Its row is written by another process, so it is read
    every so often, as ``training.wait`` does (live events prove themselves in the first test)."""
    deadline = time.monotonic() + 60
    job = TrainingJob.objects.get(pk=job_id)
    while job.rows_done == 0 and not job.finished and time.monotonic() < deadline:
        worker.assert_running()
        time.sleep(0.1)
        job.refresh_from_db()
    return job


def test_cancel_stops_a_long_job_in_the_worker(small_chunks, training_worker):
    trump_model()
    dataset = long_dataset()
    job = started(version=1, dataset=dataset.pk)
    running = wait_until_running(job.pk, training_worker)
    assert running.status == TrainingJob.Status.RUNNING
    # When it is cancelled while running
    assert training.training_cancel(job=running).cancel_requested
    job = training.wait(job.pk, timeout=60)
    # Then the worker stops it after the row it was on: cancelled, part-way, no new version
    assert job.status == TrainingJob.Status.CANCELLED, job.error or training_worker.log()
    assert 0 < job.rows_done < job.rows_total == 5005
    assert not ModelVersion.objects.filter(model__name="trump", number=2).exists()


def test_a_worker_killed_mid_job_leaves_the_job_failed_not_running_forever(small_chunks, training_worker, settings):
    trump_model()
    job = started(version=1, dataset=long_dataset().pk)
    assert wait_until_running(job.pk, training_worker).status == TrainingJob.Status.RUNNING
    # When the worker is killed mid-job (no chance to write anything)
    training_worker.process.send_signal(signal.SIGKILL)
    training_worker.process.wait(20)
    dead = TrainingJob.objects.get(pk=job.pk)
    assert dead.status == TrainingJob.Status.RUNNING and dead.rows_done < 5005
    # Then, once its heartbeat is older than the stale bound, reading it (or beat's sweep) marks it failed
    later = timezone.now() + timedelta(seconds=settings.RHYTHMIC_TRAINING_STALE_SECONDS + 1)
    assert training.training_recover_stale(now=later) == 1
    job = TrainingJob.objects.get(pk=job.pk)
    assert job.status == TrainingJob.Status.FAILED
    assert job.error.startswith("its runner stopped (worker killed or restarted?) at row ")
    assert job.finished_at is not None
    assert not ModelVersion.objects.filter(model__name="trump", number=2).exists()


def test_a_dataset_built_from_the_learn_log_holds_exactly_its_learns_and_trains_as_they_did(training_worker):
    from catalogue.datasets import dataset_rows
    from serving.datasets import dataset_from_log

    # Given v1 in production, which learned 300 events (some with an id: predicted first, then labelled)
    trump_model()
    learned = trump_rows(300)
    for i, (x, y) in enumerate(learned):
        if i % 3:
            serving.learn(model="trump", features=x, ground_truth=y)
        else:
            serving.predict(model="trump", features=x, id=f"p{i}")
            serving.learn(model="trump", id=f"p{i}", ground_truth=y)
    # When the log becomes a dataset, and the worker trains v1's artifact on it
    dataset = dataset_from_log(model=serving_model(), name="history")
    # Then the dataset holds exactly those learns, in log order
    assert [(x, y) for x, y in dataset_rows(dataset)] == learned
    job = training.wait(started(version=1, dataset=dataset.pk).pk, timeout=90)
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error or training_worker.log()
    # and the trained version equals v1's live state, which learned the same events in the same order
    live = dill.loads(serving.live_state(model="trump")[1])
    for x, _ in trump_rows(20, skip=300):
        assert artifact_of(2).predict_one(x) == pytest.approx(live.predict_one(x), rel=1e-12)
