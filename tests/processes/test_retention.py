"""Learn-log retention across real server processes: after a prune, a restarted process and one that was idle
through it serve the same predictions and metrics as before."""

import itertools
from datetime import timedelta

import dill
import pytest
from django.utils import timezone
from river import datasets, linear_model, preprocessing

from catalogue import services
from catalogue.models import MLModel
from serving import tasks
from serving.models import LearnEvent
from tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BASE = "/api/v1/models/live"


def test_after_a_prune_restarted_and_idle_processes_serve_what_they_served_before(start_server, api, settings):
    # Given a live model, a process that served it after 5 learns and then sat idle, and a busy one
    settings.RHYTHMIC_CHECKPOINT_EVERY = 10  # this process prunes: the checkpoints it writes follow this
    model = factories.MLModelFactory(name="live")
    version = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    )
    services.deployment_promote(version=version)
    env = {"RHYTHMIC_CHECKPOINT_EVERY": "10", "RHYTHMIC_LOG_PRUNE_SECONDS": "1000000"}
    idle, busy = start_server(**env), start_server(**env)
    stream = list(itertools.islice(datasets.TrumpApproval(), 45))
    probe = {"features": stream[0][0]}

    def learn(server, i):
        x, y = stream[i]
        api.post(server.url + f"{BASE}/predict", json={"features": x, "id": i}).raise_for_status()
        api.post(server.url + f"{BASE}/learn", json={"id": i, "ground_truth": y}).raise_for_status()

    for i in range(5):
        learn(busy, i)
    api.post(idle.url + f"{BASE}/predict", json=probe).raise_for_status()
    for i in range(5, len(stream)):
        learn(busy, i)
    before = (
        api.post(busy.url + f"{BASE}/predict", json=probe).json()["prediction"],
        api.get(busy.url + f"{BASE}/metrics").json(),
    )
    # When the busy one stops, its entries pass the retention and the prune task runs
    busy.stop()
    LearnEvent.objects.update(created_at=timezone.now() - timedelta(days=settings.RHYTHMIC_LOG_RETENTION_DAYS + 1))
    assert tasks.prune_log.delay().get() == len(stream)
    assert not LearnEvent.objects.exists()
    # Then a newly started process and the idle one serve exactly what the busy one served
    for server in (start_server(**env), idle):
        served = (
            api.post(server.url + f"{BASE}/predict", json=probe).json()["prediction"],
            api.get(server.url + f"{BASE}/metrics").json(),
        )
        assert served == before, server.url
    # And a retried learn of a pruned id is refused, not learned twice
    retried = api.post(idle.url + f"{BASE}/learn", json={"id": 3, "ground_truth": stream[3][1]})
    assert retried.status_code == 404
    assert "retention" in retried.json()["error"]["message"]
    assert MLModel.objects.get().learn_seq == len(stream)
