"""A backtest in a real daphne process (the embedded default: a thread of the server) pushes its progress to a
real WebSocket client as live events, chunk by chunk, to its end."""

import itertools
import json

import dill
import pytest
from river import datasets, linear_model, preprocessing
from websockets.sync.client import connect

import serving
from catalogue import services
from tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT = 20.0


def test_a_backtest_on_a_real_server_pushes_its_progress_to_a_websocket_client(start_server, api):
    # Given a model whose v1 served 200 learns, and a server without a broker reading the log 25 entries at a time
    model = factories.MLModelFactory(name="live", flavor="regression")
    v1 = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    )
    services.deployment_promote(version=v1)
    for x, y in itertools.islice(datasets.TrumpApproval(), 200):
        serving.learn(model="live", features=x, ground_truth=y)
    live = serving.metrics(model="live")["metrics"]
    server = start_server(CELERY_TASK_ALWAYS_EAGER="1", RHYTHMIC_BACKTEST_CHUNK="25")
    ws_url = server.url.replace("http://", "ws://") + "/ws/events/?model=live"
    with connect(ws_url, additional_headers={"Authorization": api.headers["Authorization"]}, origin=server.url) as ws:
        ws.send(json.dumps({"type": "ping"}))  # the subscription is in place once the pong comes back
        assert json.loads(ws.recv(timeout=TIMEOUT)) == {"type": "pong"}
        # When a backtest of v1 is started
        started = api.post(server.url + "/api/v1/models/live/backtests/", json={"version": 1})
        assert started.status_code == 202, started.text
        # Then the client receives its progress, chunk by chunk, up to its result
        events = []
        while not events or events[-1]["status"] == "running":
            event = json.loads(ws.recv(timeout=TIMEOUT))
            if event["type"] == "backtest":
                events.append(event)
    assert all(e["id"] == started.json()["id"] and e["model"] == "live" for e in events)
    done = [e["events_done"] for e in events if e["status"] == "running"]
    assert done[-8:] == [25, 50, 75, 100, 125, 150, 175, 200]
    assert [e["progress"] for e in events][-9:] == [i / 8 for i in range(1, 9)] + [1.0]
    last = events[-1]
    assert (last["status"], last["events_done"], last["events_total"]) == ("succeeded", 200, 200)
    assert last["metrics"]["values"] == pytest.approx(live, rel=1e-9)
