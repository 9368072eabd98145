"""Live events leave the serving core through the channel layer, sampled and coalesced, never blocking it."""

import asyncio
import copy
import uuid

import dill
import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from river import linear_model

import serving
from api.broadcast import broadcaster
from catalogue import services
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_channel_layer(settings):
    """A channel layer of its own per test (its own key prefix on Redis): no group member left by another test."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    redis_layer = "Redis" in layers["default"]["BACKEND"]
    if redis_layer:
        layers["default"]["CONFIG"]["prefix"] = f"rhythmic-test-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = layers  # channels builds a new layer when this setting changes
    yield
    if redis_layer:
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(match=f"{layers['default']['CONFIG']['prefix']}*"):
            client.delete(key)
        client.close()


@pytest.fixture
def live():
    model = factories.MLModelFactory(name="live")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(linear_model.LinearRegression()))
    services.deployment_promote(version=version)
    return model


def listen(groups: list[str], action, count: int, timeout: float = 5.0, skip: tuple = ()) -> list[dict]:
    """Subscribe a channel to ``groups``, run the sync ``action``, and collect ``count`` events (leaving out
    those of a type in ``skip``)."""
    layer = get_channel_layer()

    async def scenario() -> list[dict]:
        broadcaster._server_loop = None
        broadcaster.bind_loop(asyncio.get_running_loop())
        channel = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, channel)
        await sync_to_async(action)()
        events = []
        while len(events) < count:
            message = await asyncio.wait_for(layer.receive(channel), timeout)
            if message["event"]["type"] not in skip:
                events.append(message["event"])
        return events

    return async_to_sync(scenario)()


def test_a_predict_reaches_listeners_of_the_model(live):
    events = listen(["events.live"], lambda: serving.predict(model="live", features={"x": 1.0}, id=7), 1)
    assert events[0]["type"] == "predict"
    assert (events[0]["model"], events[0]["version"], events[0]["id"]) == ("live", 1, 7)
    assert events[0]["features"] == {"x": 1.0}


@pytest.mark.django_db(transaction=True)  # learn events leave once the learn has committed
def test_a_learn_sends_the_event_and_a_metrics_push(live):
    events = listen(
        ["events.live", "metrics.live"],
        lambda: serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0),
        2,
        skip=("deploy",),  # the fixture's promotion, committed, may still be on its way (on Redis)
    )
    by_type = {event["type"]: event for event in events}
    assert by_type["learn"]["ground_truth"] == 2.0
    assert by_type["metrics"]["versions"]["1"]["MAE"] == 2.0


@pytest.mark.django_db(transaction=True)
def test_metric_pushes_are_coalesced(live, settings):
    settings.RHYTHMIC_METRICS_PUSH_SECONDS = 60

    def learn_three_times():
        for y in (1.0, 2.0, 3.0):
            serving.learn(model="live", features={"x": 1.0}, ground_truth=y)

    # The first push goes out as soon as the pump runs (after any of the three learns)...
    events = listen(["metrics.live"], learn_three_times, 1)
    assert events[0]["state_seq"] in (1, 2, 3)
    # ...and nothing more within the interval, however many learns follow.
    with pytest.raises(TimeoutError):
        listen(["metrics.live"], lambda: serving.learn(model="live", features={"x": 1}, ground_truth=1), 1, 0.5)


def test_events_above_the_rate_are_sampled_and_the_next_one_says_how_many(live, settings):
    settings.RHYTHMIC_EVENTS_PER_SECOND = 2

    def burst():
        for i in range(5):
            serving.predict(model="live", features={"x": float(i)})

    events = listen(["events.live"], burst, 2)
    assert [e["features"]["x"] for e in events] == [0.0, 1.0]
    assert broadcaster.sampled >= 3


@pytest.mark.django_db(transaction=True)
def test_a_learn_many_sends_one_event_per_row_in_order_sampled_as_single_learns_are(live, settings):
    # Given a rate of 3 events a second and a batch of 5 learns
    settings.RHYTHMIC_EVENTS_PER_SECOND = 3
    items = [{"features": {"x": float(i)}, "ground_truth": float(i)} for i in range(5)]
    sampled = broadcaster.sampled

    # When they are learned in one call
    events = listen(["events.live"], lambda: serving.learn_many(model="live", items=items), 3, skip=("deploy",))

    # Then the first three rows arrive as their own learn events, in order, and the other two are sampled
    assert [(e["type"], e["features"]["x"], e["seq"]) for e in events] == [
        ("learn", 0.0, 1),
        ("learn", 1.0, 2),
        ("learn", 2.0, 3),
    ]
    assert broadcaster.sampled - sampled == 2


def test_deploy_and_validation_events_are_sent_after_commit(live, regressor_bytes, django_capture_on_commit_callbacks):
    def deploy():
        with django_capture_on_commit_callbacks(execute=True):
            version, _ = services.model_version_register(model=live, data=regressor_bytes)
        version.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            services.deployment_promote(version=version)

    events = listen(["events.live"], deploy, 2)
    assert [e["type"] for e in events] == ["validation", "deploy"]
    assert events[1]["to_version"] == 2


def test_a_coalesced_metrics_push_keeps_every_version_that_learned_in_the_interval():
    # No loop to send on (in-memory layer, no server): look at the pending push itself, for a model listened to.
    async_to_sync(get_channel_layer().group_add)("metrics.m", "listener.channel")
    broadcaster._metrics.clear()
    broadcaster._metrics["m"] = {"state_seq": 1, "versions": {"1": {"MAE": 1.0}}}
    broadcaster.publish_metrics("m", {"state_seq": 3, "versions": {"2": {"MAE": 0.5}}})
    assert broadcaster._metrics["m"]["state_seq"] == 3
    assert broadcaster._metrics["m"]["versions"] == {"1": {"MAE": 1.0}, "2": {"MAE": 0.5}}


def test_an_event_nobody_listens_to_in_this_process_is_not_queued():
    # Given the in-memory layer (make run's) and no listener of model m's metrics or events
    layer = get_channel_layer()
    if "Redis" in type(layer).__name__:
        pytest.skip("a Redis layer may have listeners in other processes: every event is queued")
    broadcaster._metrics.clear()
    broadcaster._queue.clear()
    # When a metrics push and an event are published
    broadcaster.publish_metrics("m", {"state_seq": 1, "versions": {"1": {"MAE": 1.0}}})
    broadcaster.publish({"type": "predict"}, model="m")
    # Then neither is kept: nothing wakes the server's loop for them
    assert "m" not in broadcaster._metrics
    assert not broadcaster._queue


def test_no_delivery_task_is_left_pending_once_the_queue_is_empty(live):
    # A task pending forever would be destroyed at shutdown with an asyncio error in the server's log.
    layer = get_channel_layer()

    async def scenario() -> list:
        broadcaster._server_loop = None
        broadcaster.bind_loop(asyncio.get_running_loop())
        channel = await layer.new_channel()
        await layer.group_add("events.live", channel)
        await sync_to_async(lambda: serving.predict(model="live", features={"x": 1.0}))()
        await asyncio.wait_for(layer.receive(channel), 5)
        await asyncio.sleep(0.05)
        return [t for t in asyncio.all_tasks() if t.get_coro().__qualname__.startswith("Broadcaster.")]

    assert async_to_sync(scenario)() == []


def test_a_deploy_task_sends_its_status_as_it_goes(live, regressor_bytes, django_capture_on_commit_callbacks):
    from serving import deploy as deploys

    with django_capture_on_commit_callbacks(execute=True):
        version, _ = services.model_version_register(model=live, data=regressor_bytes)
    version.refresh_from_db()

    def run_the_deploy():
        with django_capture_on_commit_callbacks(execute=True):
            deploys.deploy(version=version)

    events = listen(["events.live"], run_the_deploy, 2, skip=("deploy", "validation", "metrics"))
    assert [(e["type"], e["status"], e["version"]) for e in events] == [
        ("deploy_task", "preloading", 2),
        ("deploy_task", "succeeded", 2),
    ]
    assert events[0]["id"] == events[1]["id"]
