"""A backtest in a real Celery worker: started here, queued on Redis, replayed by another process, whose
progress reaches this process's channel layer as live events."""

import asyncio
import itertools
import os

import dill
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from river import datasets, linear_model, preprocessing

import serving
from api.broadcast import events_group
from catalogue import services
from serving import backtests, tasks
from serving.models import Backtest
from tests import factories

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"), reason="needs Redis and Postgres: set REDIS_URL and DATABASE_URL"
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def backtest_worker(celery_worker, monkeypatch):
    """The worker of ``celery_worker``; backtests queued by this test go to its private queue."""
    queue = celery_worker.queue
    monkeypatch.setattr(tasks.run_backtest, "delay", lambda *args: tasks.run_backtest.apply_async(args, queue=queue))
    return celery_worker


async def _listen(group: str, ready: asyncio.Event, events: list, timeout: float) -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    ready.set()
    try:
        while not events or events[-1]["status"] in ("queued", "running"):
            message = await asyncio.wait_for(layer.receive(channel), timeout)
            if message["event"].get("type") == "backtest":
                events.append(message["event"])
    finally:
        await layer.group_discard(group, channel)


def test_a_worker_process_runs_a_backtest_and_pushes_its_progress_live(backtest_worker, settings):
    if "Redis" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
        pytest.skip("live events cross processes through Redis")
    # Given a model whose v1 served 150 learns
    model = factories.MLModelFactory(name="live", flavor="regression")
    v1 = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    )
    services.deployment_promote(version=v1)
    for x, y in itertools.islice(datasets.TrumpApproval(), 150):
        serving.learn(model="live", features=x, ground_truth=y)
    live = serving.metrics(model="live")["metrics"]
    events: list[dict] = []

    async def scenario() -> None:
        ready = asyncio.Event()
        listener = asyncio.create_task(_listen(events_group("live"), ready, events, timeout=60))
        await ready.wait()
        # When a backtest is started: it is queued on the broker, not run here
        await asyncio.to_thread(_start, model)
        await listener

    async_to_sync(scenario)()
    # Then the worker ran it to the end and its progress reached this process
    backtest = Backtest.objects.get()
    assert backtest.status == Backtest.Status.SUCCEEDED, backtest.error or backtest_worker.log()
    assert backtest.metrics["values"] == pytest.approx(live, rel=1e-9)
    assert "Task serving.run_backtest[" in backtest_worker.log()
    assert events[-1]["status"] == "succeeded" and events[-1]["events_done"] == 150
    assert any(e["status"] == "running" for e in events)


def _start(model) -> None:
    from django.db import connection

    try:
        backtests.backtest_start(model=model, version=1)
    finally:
        connection.close()
