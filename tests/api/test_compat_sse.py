"""chantilly's server-sent event routes, /api/stream/events and /api/stream/metrics, read through the ASGI
application as daphne would drive it (request, streamed body, client disconnect)."""

import copy
import json
import uuid

import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from asgiref.testing import ApplicationCommunicator
from channels.layers import get_channel_layer
from django.db import connections
from django.test import Client
from rest_framework.authtoken.models import Token

import serving
from api.broadcast import publish
from catalogue import services
from catalogue.models import MLModel
from rhythmic.asgi import application
from serving import compat
from tests import factories

# The views read the database from the event loop's sync thread, which closes connections that are
# inside a transaction at each request: these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5.0


def is_redis(settings) -> bool:
    return "Redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"]


@pytest.fixture(autouse=True)
def _fresh(settings, monkeypatch):
    """A fresh channel layer per test (its own key prefix on Redis); tests/conftest.py resets the process."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    if is_redis(settings):
        layers["default"]["CONFIG"]["prefix"] = f"rhythmic-test-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = layers
    # Django runs each ASGI request's sync code in a thread of its own: a persistent connection opened
    # there would outlive the request (and block dropping the test database); close it at the end.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    yield
    if is_redis(settings):
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(match=f"{layers['default']['CONFIG']['prefix']}*"):
            client.delete(key)
        client.close()


@pytest.fixture
def token(db) -> str:
    return Token.objects.create(user=factories.UserFactory(username="watcher")).key


@pytest.fixture
def workspace(db, regressor_bytes):
    """chantilly's workspace with one regression model, "live", the default."""
    compat.init(flavor_name="regression")
    compat.upload(data=regressor_bytes, name="live")


class Stream:
    """One GET on the ASGI application; the response body is read message by message as it streams."""

    def __init__(self, path: str, *, token: str | None = None, method: str = "GET", cookie: str | None = None):
        path, _, query = path.partition("?")
        headers = [(b"host", b"testserver")]
        if token is not None:
            headers.append((b"authorization", f"Token {token}".encode()))
        if cookie is not None:
            headers.append((b"cookie", cookie.encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.communicator = ApplicationCommunicator(application, scope)
        self.buffer = ""
        self.more = True

    async def open(self) -> "Stream":
        await self.communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await self.communicator.receive_output(TIMEOUT)
        self.status = start["status"]
        self.headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
        return self

    async def body(self) -> str:
        """The whole body of a response that ends (an error)."""
        while self.more:
            await self._read()
        return self.buffer

    async def _read(self) -> None:
        message = await self.communicator.receive_output(TIMEOUT)
        assert message["type"] == "http.response.body"
        self.buffer += message.get("body", b"").decode()
        self.more = message.get("more_body", False)

    async def message(self, *, pings: bool = False) -> str:
        """The next SSE message (text up to a blank line); comment-only ones are skipped unless ``pings``."""
        while True:
            while "\n\n" not in self.buffer:
                assert self.more, f"the stream ended; left: {self.buffer!r}"
                await self._read()
            message, self.buffer = self.buffer.split("\n\n", 1)
            if pings or not message.startswith(":"):
                return message

    async def connected(self) -> "Stream":
        """Open, and wait for the comment saying the stream is subscribed."""
        await self.open()
        assert self.status == 200, await self.body()
        assert await self.message(pings=True) == ": connected"
        return self

    async def close(self) -> None:
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(TIMEOUT)


def data_of(message: str) -> tuple[str | None, dict]:
    """(event name, decoded data) of one SSE message."""
    fields = dict(line.split(": ", 1) for line in message.split("\n"))
    return fields.get("event"), json.loads(fields["data"])


def run(scenario):
    return async_to_sync(scenario)()


async def group_members(layer, group: str) -> set[str]:
    if hasattr(layer, "groups"):  # in-memory
        return set(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    return {name.decode() for name in await connection.zrange(layer._group_key(group), 0, -1)}


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/stream/events", "/api/stream/metrics"])
def test_an_anonymous_stream_is_refused_with_401_in_the_error_shape(path):
    async def scenario():
        stream = await Stream(path).open()
        return stream.status, json.loads(await stream.body())

    status, body = run(scenario)
    assert status == 401
    assert body["error"]["code"] == "not_authenticated"
    assert "Authorization: Token" in body["error"]["message"]


def test_an_unknown_token_is_refused_with_401():
    async def scenario():
        stream = await Stream("/api/stream/events", token="not-a-real-token").open()
        return stream.status, json.loads(await stream.body())

    status, body = run(scenario)
    assert status == 401
    assert body["error"]["code"] == "authentication_failed"


def test_a_logged_in_browser_session_may_stream():
    browser = Client()
    browser.force_login(factories.UserFactory(username="browser"))

    async def scenario():
        stream = await Stream("/api/stream/events", cookie=f"sessionid={browser.cookies['sessionid'].value}").open()
        first = await stream.message(pings=True)
        await stream.close()
        return stream.status, first

    assert run(scenario) == (200, ": connected")


def test_a_post_is_refused_with_405(token):
    async def scenario():
        stream = await Stream("/api/stream/events", token=token, method="POST").open()
        return stream.status, stream.headers.get("allow"), json.loads(await stream.body())

    status, allow, body = run(scenario)
    assert (status, allow, body["error"]["code"]) == (405, "GET", "method_not_allowed")


@pytest.mark.parametrize("path", ["/api/stream/events", "/api/stream/metrics"])
def test_a_stream_asked_of_a_wsgi_server_is_refused_with_501_rather_than_holding_a_worker(path, token):
    # Django's test client goes through the WSGI handler, as gunicorn would
    response = Client().get(path, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 501
    assert response.json()["error"]["code"] == "needs_asgi"
    assert "daphne" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/api/stream/events?model=nope", "/api/stream/metrics?model=nope"])
def test_a_model_that_is_not_in_the_workspace_is_answered_404(token, workspace, path):
    async def scenario():
        stream = await Stream(path, token=token).open()
        return stream.status, json.loads(await stream.body())

    status, body = run(scenario)
    assert status == 404
    assert body["error"]["message"].startswith("no model named 'nope'")


def test_the_metrics_stream_without_any_uploaded_model_is_answered_404(token):
    async def scenario():
        stream = await Stream("/api/stream/metrics", token=token).open()
        return stream.status, json.loads(await stream.body())

    status, body = run(scenario)
    assert status == 404
    assert "POST the dill bytes of a model to /api/model" in body["error"]["message"]


@pytest.fixture
def catalogue_model(db, regressor_bytes):
    """A model made through the catalogue (REST, CLI, pages), not chantilly's /api/model: "housing" v1 live."""
    model = factories.MLModelFactory(name="housing")
    version, _ = services.model_version_register(model=model, data=regressor_bytes)
    services.deployment_promote(version=version)
    return model


def test_without_a_default_model_the_metrics_stream_says_to_name_a_catalogue_model(token, catalogue_model):
    async def scenario():
        stream = await Stream("/api/stream/metrics", token=token).open()
        return stream.status, json.loads(await stream.body())

    status, body = run(scenario)
    assert status == 404
    assert body["error"]["code"] == "no_default_model"
    assert "?model=housing" in body["error"]["message"]


@pytest.mark.parametrize("path", ["/api/stream/events?model=housing", "/api/stream/metrics?model=housing"])
def test_the_model_parameter_names_any_catalogue_model(token, catalogue_model, path):
    async def scenario():
        stream = await Stream(path, token=token).connected()
        await stream.close()
        return stream.status

    assert run(scenario) == 200


def test_the_metrics_stream_of_a_catalogue_model_sends_its_production_metrics(token, catalogue_model):
    serving.learn(model="housing", features={"x": 1.0}, ground_truth=2.0)

    async def scenario():
        stream = await Stream("/api/stream/metrics?model=housing", token=token).connected()
        first = await stream.message()
        await stream.close()
        return first

    assert data_of(run(scenario))[1]["MAE"] == 2.0


# --- /api/stream/events --------------------------------------------------------------------------


def test_the_events_stream_is_served_as_an_uncached_unbuffered_event_stream(token):
    async def scenario():
        stream = await Stream("/api/stream/events", token=token).connected()
        await stream.close()
        return stream.headers

    headers = run(scenario)
    assert headers["content-type"] == "text/event-stream"
    assert headers["cache-control"] == "no-cache"
    assert headers["x-accel-buffering"] == "no"


def test_a_predict_and_a_learn_come_in_chantillys_format(token, workspace):
    async def scenario():
        stream = await Stream("/api/stream/events", token=token).connected()
        await sync_to_async(serving.predict)(model="live", features={"x": 1.0}, id="a")
        await sync_to_async(serving.learn)(model="live", id="a", ground_truth=2.0)
        messages = [await stream.message(), await stream.message()]
        await stream.close()
        return messages

    predict, learn = run(scenario)
    assert predict == 'event: predict\ndata: {"model": "live", "features": {"x": 1.0}, "prediction": 0.0}'
    assert data_of(learn) == (
        "learn",
        {"model": "live", "features": {"x": 1.0}, "prediction": 0.0, "ground_truth": 2.0},
    )


def test_without_a_default_model_the_events_stream_carries_every_model(token):
    async def scenario():
        stream = await Stream("/api/stream/events", token=token).connected()
        publish({"type": "predict", "model": "a", "features": {}, "prediction": 1}, model="a")
        publish({"type": "predict", "model": "b", "features": {}, "prediction": 2}, model="b")
        messages = [await stream.message(), await stream.message()]
        await stream.close()
        return messages

    assert [data_of(message)[1]["model"] for message in run(scenario)] == ["a", "b"]


def test_with_a_default_model_the_events_stream_carries_only_its_events(token, workspace):
    async def scenario():
        stream = await Stream("/api/stream/events", token=token).connected()
        publish({"type": "predict", "model": "other", "features": {}, "prediction": 1}, model="other")
        publish({"type": "predict", "model": "live", "features": {}, "prediction": 2}, model="live")
        first = await stream.message()
        await stream.close()
        return first

    assert data_of(run(scenario))[1]["model"] == "live"


def test_the_model_parameter_picks_another_workspace_model(token, workspace, regressor_bytes):
    # Given two workspace models, "live" the default (uploaded last) and "second"
    compat.upload(data=regressor_bytes, name="second")
    compat.upload(data=factories.artifact_bytes(factories.river_regressor(1.0)), name="live")

    async def scenario():
        stream = await Stream("/api/stream/events?model=second", token=token).connected()
        publish({"type": "predict", "model": "live", "features": {}, "prediction": 1}, model="live")
        publish({"type": "predict", "model": "second", "features": {}, "prediction": 2}, model="second")
        first = await stream.message()
        await stream.close()
        return first

    assert data_of(run(scenario))[1]["model"] == "second"


def test_other_events_come_whole_under_their_own_event_name(token):
    alert = {"type": "alert", "model": "a", "rule": "MAE above 3", "value": 4.0}

    async def scenario():
        stream = await Stream("/api/stream/events", token=token).connected()
        publish(dict(alert), model="a", sample=False)
        first = await stream.message()
        await stream.close()
        return first

    name, data = data_of(run(scenario))
    assert name == "alert"
    assert data.items() >= alert.items()


def test_a_quiet_stream_sends_heartbeat_comments(token, settings):
    settings.RHYTHMIC_SSE_HEARTBEAT_SECONDS = 0.05

    async def scenario():
        stream = await Stream("/api/stream/events", token=token).connected()
        beats = [await stream.message(pings=True), await stream.message(pings=True)]
        await stream.close()
        return beats

    assert run(scenario) == [": ping", ": ping"]


def test_a_client_that_goes_away_leaves_the_group(token):
    async def scenario():
        stream = await Stream("/api/stream/events", token=token).connected()
        during = await group_members(get_channel_layer(), "events")
        await stream.close()
        return during, await group_members(get_channel_layer(), "events")

    during, after = run(scenario)
    assert len(during) == 1
    assert after == set()


# --- /api/stream/metrics -------------------------------------------------------------------------


def test_the_metrics_stream_starts_with_the_production_versions_current_metrics(token, workspace):
    serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)

    async def scenario():
        stream = await Stream("/api/stream/metrics", token=token).connected()
        first = await stream.message()
        await stream.close()
        return first

    name, data = data_of(run(scenario))
    assert name is None
    assert data["MAE"] == 2.0


def test_each_learn_sends_the_production_versions_metrics(token, workspace):
    async def scenario():
        stream = await Stream("/api/stream/metrics?model=live", token=token).connected()
        await stream.message()  # the current values
        await sync_to_async(serving.learn)(model="live", features={"x": 1.0}, ground_truth=4.0)
        pushed = await stream.message()
        await stream.close()
        return pushed

    assert data_of(run(scenario))[1]["MAE"] == 4.0


def test_after_a_promotion_the_metrics_stream_follows_the_new_production_version(token, workspace, settings):
    # Given the stream of "live" v1, which has a pending prediction
    settings.RHYTHMIC_METRICS_PUSH_SECONDS = 0
    serving.predict(model="live", features={"x": 1.0}, id="old")
    second, _ = services.model_version_register(
        model=MLModel.objects.get(name="live"), data=factories.artifact_bytes(factories.river_regressor(5.0))
    )

    async def scenario():
        stream = await Stream("/api/stream/metrics", token=token).connected()
        before = await stream.message()
        # When v2 is promoted, v1's pending prediction learns (a v1 push), and v2 learns
        await sync_to_async(services.deployment_promote)(version=second)
        at_promotion = await stream.message()
        await sync_to_async(serving.learn)(model="live", id="old", ground_truth=10.0)
        await sync_to_async(serving.learn)(model="live", features={"x": 1.0}, ground_truth=3.0)
        after = await stream.message()
        await stream.close()
        return before, at_promotion, after

    # Then the stream sends v2's values from the promotion on, never v1's
    before, at_promotion, after = (data_of(message)[1] for message in run(scenario))
    assert before["MAE"] == 0.0
    assert at_promotion["MAE"] == 0.0
    assert after["MAE"] == 2.0  # v2 predicted 5.0 for a ground truth of 3.0
