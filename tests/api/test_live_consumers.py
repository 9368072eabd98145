"""WebSocket listeners: ws/events/ (optionally one model's) and ws/models/<name>/metrics/, through the whole
ASGI stack (origin check, token or session auth, routing) and the channel layer in use (in-memory or Redis)."""

import asyncio
import copy
import uuid

import dill
import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.authtoken.models import Token
from river import linear_model

import serving
from api.broadcast import publish
from catalogue import services
from rhythmic.asgi import application
from tests import factories

# The consumers read the database through database_sync_to_async, which closes connections that are
# inside a transaction: these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5.0
ORIGIN = (b"origin", b"http://testserver")


def is_redis(settings) -> bool:
    return "Redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"]


@pytest.fixture(autouse=True)
def _fresh(settings):
    """A fresh channel layer per test (its own key prefix on Redis); tests/conftest.py resets the process."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    if is_redis(settings):
        layers["default"]["CONFIG"]["prefix"] = f"rhythmic-test-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = layers  # channels builds a new layer when this setting changes
    yield
    if is_redis(settings):
        forget_keys(settings.REDIS_URL, layers["default"]["CONFIG"]["prefix"])


def forget_keys(url: str, prefix: str) -> None:
    """Remove what a test left in Redis under its own prefix (groups, undelivered messages)."""
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def token(db) -> str:
    user = factories.UserFactory(username="watcher")
    return Token.objects.create(user=user).key


@pytest.fixture
def live(db):
    model = factories.MLModelFactory(name="live")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(linear_model.LinearRegression()))
    services.deployment_promote(version=version)
    return model


def socket(path: str, token: str | None = None, cookie: str | None = None) -> WebsocketCommunicator:
    headers = [ORIGIN]
    if token is not None:
        headers.append((b"authorization", f"Token {token}".encode()))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, path, headers=headers)


def run(scenario):
    """Run an async scenario on a new event loop; the sync database calls inside it use this thread."""
    return async_to_sync(scenario)()


async def connected(path: str, token: str) -> WebsocketCommunicator:
    communicator = socket(path, token)
    accepted, code = await communicator.connect(TIMEOUT)
    assert accepted, f"refused with {code}"
    return communicator


async def next_of(communicator: WebsocketCommunicator, kind: str) -> dict:
    """The next event of type ``kind``. Others are skipped: the fixtures' own events ("deploy", "validation")
    are sent from the broadcaster's loop, and on Redis one can come after the listener joined."""
    while (event := await communicator.receive_json_from(TIMEOUT))["type"] != kind:
        pass
    return event


async def closed_with(communicator: WebsocketCommunicator) -> int:
    """The close code of a connection the server accepts and closes at once (a real client sees the code)."""
    accepted, _ = await communicator.connect(TIMEOUT)
    assert accepted
    closed = await communicator.receive_output(TIMEOUT)
    assert closed["type"] == "websocket.close"
    return closed["code"]


# --- authentication ------------------------------------------------------------------------------


def test_an_anonymous_client_is_refused_with_4401():
    async def scenario():
        return await closed_with(socket("/ws/events/"))

    assert run(scenario) == 4401


def test_an_unknown_token_is_refused_with_4401():
    async def scenario():
        return await closed_with(socket("/ws/events/", token="not-a-real-token"))

    assert run(scenario) == 4401


def test_an_anonymous_client_of_the_metrics_socket_is_refused_with_4401(live):
    async def scenario():
        return await closed_with(socket("/ws/models/live/metrics/"))

    assert run(scenario) == 4401


def test_a_logged_in_browser_session_may_listen():
    # Given a user logged in through the session
    browser = Client()
    browser.force_login(factories.UserFactory(username="browser"))
    cookie = f"sessionid={browser.cookies['sessionid'].value}"

    # When the browser opens the socket with its session cookie
    async def scenario():
        communicator = socket("/ws/events/", cookie=cookie)
        result = await communicator.connect(TIMEOUT)
        await communicator.disconnect()
        return result

    # Then it is accepted
    assert run(scenario) == (True, None)


# --- ws/events/ ----------------------------------------------------------------------------------


def test_a_client_receives_the_events_of_every_model(token):
    async def scenario():
        communicator = await connected("/ws/events/", token)
        publish({"type": "predict", "model": "a"}, model="a")
        publish({"type": "predict", "model": "b"}, model="b")
        received = [await communicator.receive_json_from(TIMEOUT) for _ in range(2)]
        await communicator.disconnect()
        return received

    assert [event["model"] for event in run(scenario)] == ["a", "b"]


def test_the_model_filter_passes_only_that_models_events(token, live):
    async def scenario():
        communicator = await connected("/ws/events/?model=live", token)
        publish({"type": "predict", "model": "other"}, model="other")
        publish({"type": "predict", "model": "live"}, model="live")
        first = await communicator.receive_json_from(TIMEOUT)
        await communicator.disconnect()
        return first

    assert run(scenario)["model"] == "live"


def test_a_filter_on_an_unknown_model_is_answered_not_found_and_closed_with_4404(token):
    async def scenario():
        communicator = socket("/ws/events/?model=nope", token)
        accepted, _ = await communicator.connect(TIMEOUT)
        message = await communicator.receive_json_from(TIMEOUT)
        closing = await communicator.receive_output(TIMEOUT)
        return accepted, message, closing

    accepted, message, closing = run(scenario)
    assert accepted
    assert message == {
        "type": "error",
        "error": {"code": "not_found", "message": "no model named 'nope'", "field": None},
    }
    assert closing == {"type": "websocket.close", "code": 4404}


def test_a_predict_and_a_learn_in_the_serving_core_reach_the_listener(token, live):
    async def scenario():
        communicator = await connected("/ws/events/?model=live", token)
        await sync_to_async(serving.predict)(model="live", features={"x": 1.0}, id=7)
        await sync_to_async(serving.learn)(model="live", id=7, ground_truth=2.0)
        received = [await next_of(communicator, "predict"), await next_of(communicator, "learn")]
        await communicator.disconnect()
        return received

    predict, learn = run(scenario)
    assert (predict["type"], predict["id"], predict["features"], predict["version"]) == ("predict", 7, {"x": 1.0}, 1)
    assert (learn["type"], learn["id"], learn["ground_truth"], learn["prediction"]) == ("learn", 7, 2.0, 0.0)


def test_a_ping_is_answered_with_a_pong(token):
    async def scenario():
        communicator = await connected("/ws/events/", token)
        await communicator.send_json_to({"type": "ping"})
        answer = await communicator.receive_json_from(TIMEOUT)
        await communicator.disconnect()
        return answer

    assert run(scenario) == {"type": "pong"}


def test_any_other_message_is_answered_with_an_error_and_the_socket_stays_open(token):
    async def scenario():
        communicator = await connected("/ws/events/", token)
        await communicator.send_json_to({"type": "subscribe", "model": "x"})
        answer = await communicator.receive_json_from(TIMEOUT)
        await communicator.send_json_to({"type": "ping"})
        still_open = await communicator.receive_json_from(TIMEOUT)
        await communicator.disconnect()
        return answer, still_open

    answer, still_open = run(scenario)
    assert (answer["type"], answer["error"]["code"]) == ("error", "invalid")
    assert '{"type": "ping"}' in answer["error"]["message"]
    assert still_open == {"type": "pong"}


@pytest.mark.parametrize(
    ("frame", "problem"), [({"text_data": "ping!"}, "not JSON"), ({"bytes_data": b"\x00"}, "binary")]
)
def test_a_frame_that_is_not_a_json_message_is_answered_with_an_error(token, frame, problem):
    async def scenario():
        communicator = await connected("/ws/events/", token)
        await communicator.send_to(**frame)
        answer = await communicator.receive_json_from(TIMEOUT)
        await communicator.disconnect()
        return answer

    answer = run(scenario)
    assert answer["type"] == "error"
    assert problem in answer["error"]["message"]


def test_a_closed_socket_leaves_its_group(token):
    # Given a client that listened and went away
    async def scenario():
        communicator = await connected("/ws/events/", token)
        await communicator.disconnect()
        return await group_members(get_channel_layer(), "events")

    # Then nothing is left subscribed for it
    assert run(scenario) == set()


async def group_members(layer, group: str) -> set[str]:
    if hasattr(layer, "groups"):  # in-memory
        return set(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    return {name.decode() for name in await connection.zrange(layer._group_key(group), 0, -1)}


def test_a_listener_that_never_reads_loses_events_alone_and_one_that_reads_gets_them_all(token, settings):
    # Given channels that hold at most 10 messages, a listener that never reads (a stuck or dead
    # consumer) and a client that reads
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"].setdefault("CONFIG", {})["capacity"] = 10
    settings.CHANNEL_LAYERS = layers
    count = 30

    async def scenario():
        layer = get_channel_layer()
        stuck = f"stuck-listener-{uuid.uuid4().hex}"
        await layer.group_add("events", stuck)
        reader = await connected("/ws/events/", token)
        # When three times the capacity of events are published, each read by the reader as it comes
        received = []
        for n in range(count):
            publish({"type": "predict", "model": "m", "n": n}, model="m")
            received.append((await reader.receive_json_from(TIMEOUT))["n"])
        await reader.disconnect()
        try:
            await layer.send(stuck, {"type": "probe"})
        except ChannelFull:
            stuck_is_full = True
        else:
            stuck_is_full = False
        kept = [(await asyncio.wait_for(layer.receive(stuck), TIMEOUT))["event"]["n"] for _ in range(10)]
        return received, stuck_is_full, kept

    received, stuck_is_full, kept = run(scenario)
    # Then the reader gets every event, in order, while the stuck channel is full and kept only the first ten
    assert received == list(range(count))
    assert stuck_is_full
    assert kept == list(range(10))


# --- ws/models/<name>/metrics/ -------------------------------------------------------------------


def test_the_metrics_socket_starts_with_the_production_versions_current_metrics(token, live):
    # Given a model that has learned once
    serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)

    # When a client opens its metrics socket
    async def scenario():
        communicator = await connected("/ws/models/live/metrics/", token)
        snapshot = await communicator.receive_json_from(TIMEOUT)
        await communicator.disconnect()
        return snapshot

    # Then the first message is the current metrics of version 1, in the shape of a push
    snapshot = run(scenario)
    assert (snapshot["type"], snapshot["model"], snapshot["state_seq"]) == ("metrics", "live", 1)
    assert snapshot["versions"]["1"]["MAE"] == 2.0
    assert "at" in snapshot


def test_the_metrics_socket_relays_the_push_that_follows_a_learn(token, live):
    async def scenario():
        communicator = await connected("/ws/models/live/metrics/", token)
        await communicator.receive_json_from(TIMEOUT)  # the snapshot
        await sync_to_async(serving.learn)(model="live", features={"x": 1.0}, ground_truth=4.0)
        push = await communicator.receive_json_from(TIMEOUT)
        await communicator.disconnect()
        return push

    push = run(scenario)
    assert (push["type"], push["state_seq"]) == ("metrics", 1)
    assert push["versions"]["1"]["MAE"] == 4.0


def test_the_metrics_socket_of_a_model_with_nothing_in_production_starts_empty(token):
    factories.MLModelFactory(name="empty")

    async def scenario():
        communicator = await connected("/ws/models/empty/metrics/", token)
        snapshot = await communicator.receive_json_from(TIMEOUT)
        await communicator.disconnect()
        return snapshot

    snapshot = run(scenario)
    assert (snapshot["versions"], snapshot["state_seq"]) == ({}, None)


def test_the_metrics_socket_of_an_unknown_model_is_answered_not_found_and_closed_with_4404(token):
    async def scenario():
        communicator = socket("/ws/models/nope/metrics/", token)
        accepted, _ = await communicator.connect(TIMEOUT)
        message = await communicator.receive_json_from(TIMEOUT)
        closing = await communicator.receive_output(TIMEOUT)
        return accepted, message, closing, await group_members(get_channel_layer(), "metrics.nope")

    accepted, message, closing, members = run(scenario)
    assert accepted
    assert message == {
        "type": "error",
        "error": {"code": "not_found", "message": "no model named 'nope'", "field": None},
    }
    assert closing == {"type": "websocket.close", "code": 4404}
    assert members == set()
