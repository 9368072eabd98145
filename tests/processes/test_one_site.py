"""`make run`'s server answers HTTP, WebSockets and server-sent events at one address, and an open event stream
takes none of the threads that answer HTTP (rhythmic/onesite.py).

The server runs on a migrated SQLite file of its own (sqlite_site), so this runs on either test database.
"""

import json

import pytest
import requests
from websockets.sync.client import connect

from tests.processes.test_live_streams import Listener, decoded

pytestmark = pytest.mark.slow

TIMEOUT = 10.0
PREDICT = "/api/v1/models/site/predict"

#: A superuser with a token, and a live regression model "site"; prints the token.
MAKE_SITE = """
import dill
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from river import linear_model
from catalogue import services
user = get_user_model().objects.create_superuser("site", password=None)
model = services.model_create(name="site", flavor="regression")
artifact = dill.dumps(linear_model.LinearRegression())
version, _ = services.model_version_register(model=model, data=artifact, validate=False)
services.model_version_validate(version_id=version.pk)
services.deployment_promote(version=version)
print(Token.objects.create(user=user).key)
"""


@pytest.fixture(scope="module")
def site(sqlite_site):
    """(make run's server on a fresh SQLite file, request headers with a superuser's token)."""
    server, manage = sqlite_site
    assert server.stack == "run"
    token = manage("shell", "-c", MAKE_SITE).strip().splitlines()[-1]
    return server, {"Authorization": f"Token {token}"}


def test_open_event_streams_do_not_keep_predicts_from_being_answered(site):
    # Given more open chantilly event streams than the server has HTTP threads (RHYTHMIC_HTTP_THREADS, 4)
    server, headers = site
    streams = [Listener(server.url + "/api/stream/events?model=site", headers) for _ in range(6)]
    try:
        for stream in streams:
            assert stream.next(comments=True) == ": connected"
        # When a client predicts at the same address while they stay open
        with requests.Session() as client:
            answers = [
                client.post(server.url + PREDICT, json={"features": {"x": float(i)}}, headers=headers, timeout=TIMEOUT)
                for i in range(10)
            ]
        # Then every predict is answered, and every stream receives the predict events
        assert [answer.status_code for answer in answers] == [200] * 10
        for stream in streams:
            assert decoded(stream.next()) == ("predict", {"model": "site", "features": {"x": 0.0}, "prediction": 0.0})
    finally:
        for stream in streams:
            stream.close()


def test_one_address_serves_the_pages_the_api_a_websocket_and_an_event_stream(site):
    # Given make run's server at one URL
    server, headers = site
    ws_url = server.url.replace("http://", "ws://") + "/ws/events/?model=site"
    # When a WebSocket listener and an SSE listener follow the model, and a client predicts
    with connect(ws_url, origin=server.url, additional_headers=headers) as socket:
        stream = Listener(server.url + "/api/stream/events?model=site", headers)
        try:
            assert stream.next(comments=True) == ": connected"
            body = {"features": {"x": 2.0}}
            answer = requests.post(server.url + PREDICT, json=body, headers=headers, timeout=TIMEOUT)
            assert answer.status_code == 200
            # Then both listeners receive the predict event, through the same address as the API and the pages
            event = json.loads(socket.recv(timeout=TIMEOUT))
            assert (event["type"], event["model"]) == ("predict", "site")
            assert decoded(stream.next())[0] == "predict"
        finally:
            stream.close()
    login = requests.get(server.url + "/accounts/login/", timeout=TIMEOUT)
    assert login.status_code == 200
    assert "text/html" in login.headers["Content-Type"]
