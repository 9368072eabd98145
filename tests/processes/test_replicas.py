"""Consistency across real server processes: replicas agree, a crash loses nothing, deploys reach everyone."""

import itertools
import threading

import dill
import pytest
import requests
from river import datasets, linear_model, metrics, preprocessing

from catalogue import services
from serving.models import LearnEvent
from tests import factories

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PREDICT = "/api/v1/models/live/predict"
LEARN = "/api/v1/models/live/learn"


def regressor(intercept: float = 0.0):
    return preprocessing.StandardScaler() | linear_model.LinearRegression(intercept_init=intercept)


def make_live(obj=None):
    model = factories.MLModelFactory(name="live")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj or regressor()))
    services.deployment_promote(version=version)
    return model, version


def test_two_server_processes_answer_like_one_in_process_model(start_server, api):
    # Given one model served by two processes
    make_live()
    servers = [start_server(), start_server()]
    reference = regressor()
    # When a client alternates between them: predict on one, learn on the other
    for i, (x, y) in enumerate(itertools.islice(datasets.TrumpApproval(), 60)):
        predictor, learner = servers[i % 2], servers[(i + 1) % 2]
        answer = api.post(predictor.url + PREDICT, json={"features": x, "id": i}).json()
        # Then every prediction equals, bit for bit, the in-process model fed the same learns
        assert answer["prediction"] == reference.predict_one(x), f"step {i}"
        assert api.post(learner.url + LEARN, json={"id": i, "ground_truth": y}).status_code == 201
        reference.learn_one(x, y)


def test_a_server_killed_mid_stream_loses_no_acknowledged_learn_and_applies_none_twice(start_server, api):
    # Given a server checkpointing often, and a client streaming predict(id) -> learn(id) pairs
    make_live()
    env = {"RHYTHMIC_CHECKPOINT_EVERY": "25"}
    server = start_server(**env)
    stream = list(itertools.islice(datasets.TrumpApproval(), 150))
    acknowledged = 0
    enough = threading.Event()
    failure: list[int] = []

    def client() -> None:
        nonlocal acknowledged
        for i, (x, y) in enumerate(stream):
            try:
                api.post(server.url + PREDICT, json={"features": x, "id": i}, timeout=10).raise_for_status()
                api.post(server.url + LEARN, json={"id": i, "ground_truth": y}, timeout=10).raise_for_status()
            except requests.RequestException:
                failure.append(i)  # in flight when the server died
                return
            acknowledged = i + 1
            if acknowledged == 80:
                enough.set()

    thread = threading.Thread(target=client)
    thread.start()
    # When the server is SIGKILLed in the middle of the stream
    assert enough.wait(60)
    server.kill()
    thread.join(30)
    assert failure, "the server was killed after the stream ended"
    # And a new process starts on the same database, and the client retries what was in flight
    server = start_server(**env)
    resume = failure[0]
    x, y = stream[resume]
    retried = api.post(server.url + LEARN, json={"id": resume, "ground_truth": y})
    if retried.status_code == 404:  # the predict itself never landed: redo the pair
        api.post(server.url + PREDICT, json={"features": x, "id": resume}).raise_for_status()
        retried = api.post(server.url + LEARN, json={"id": resume, "ground_truth": y})
    # 201: it had not landed; 409: it had landed before the crash and is not applied twice
    assert retried.status_code in (201, 409)
    for i in range(resume + 1, len(stream)):
        x, y = stream[i]
        api.post(server.url + PREDICT, json={"features": x, "id": i}).raise_for_status()
        api.post(server.url + LEARN, json={"id": i, "ground_truth": y}).raise_for_status()

    # Then the log holds every learn exactly once, and the state equals an in-process replay of it
    assert LearnEvent.objects.count() == len(stream)
    assert LearnEvent.objects.values("key").distinct().count() == len(stream)
    reference, mae = regressor(), metrics.MAE()
    for x, y in stream:
        mae.update(y, reference.predict_one(x))
        reference.learn_one(x, y)
    probe = stream[0][0]
    assert api.post(server.url + PREDICT, json={"features": probe}).json()["prediction"] == reference.predict_one(probe)
    served = api.get(server.url + "/api/v1/models/live/metrics").json()
    assert served["n_learned"] == len(stream)
    assert served["metrics"]["MAE"] == mae.get()


def test_promote_and_rollback_reach_every_process_without_failing_a_request(start_server, api):
    # Given two versions and two server processes under a steady stream of predictions
    model, _ = make_live()
    v2 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(regressor(intercept=10.0)))
    servers = [start_server(), start_server()]
    seen = {server.url: 0 for server in servers}
    changed = threading.Condition()
    errors: list[str] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            for server in servers:
                response = api.post(server.url + PREDICT, json={"features": {"x": 1.0}})
                with changed:
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text}")
                    else:
                        seen[server.url] = response.json()["version"]
                    changed.notify_all()

    def everyone_serves(number: int) -> bool:
        with changed:
            return changed.wait_for(lambda: set(seen.values()) == {number}, timeout=30)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        assert everyone_serves(1)
        # When version 2 is promoted, then rolled back
        services.deployment_promote(version=v2)
        assert everyone_serves(2)
        services.deployment_rollback(model=model)
        assert everyone_serves(1)
    finally:
        stop.set()
        thread.join(30)
    # Then no request failed along the way
    assert errors == []


def test_a_poisoning_learn_takes_no_process_down_nor_a_restarted_one(start_server, api):
    # Given one model served by two processes
    make_live()
    first, second = start_server(), start_server()
    # When one learns a ground truth whose squared error overflows, and is sent a 401-digit integer
    assert api.post(first.url + LEARN, json={"features": {"x0": 1}, "ground_truth": 1e200}).status_code == 201
    huge = api.post(
        first.url + LEARN,
        data='{"features": {"x0": 1}, "ground_truth": 1' + "0" * 400 + "}",
        headers={"Content-Type": "application/json"},
    )
    assert (huge.status_code, huge.json()["error"]["field"]) == (400, "ground_truth")
    first.kill()
    restarted = start_server()
    # Then every process, the restarted one too, predicts and reports the same metrics
    answers = []
    for server in (second, restarted):
        assert api.post(server.url + PREDICT, json={"features": {"x0": 1}}).status_code == 200
        metrics_answer = api.get(server.url + "/api/v1/models/live/metrics")
        assert metrics_answer.status_code == 200
        answers.append(metrics_answer.json())
    assert answers[0] == answers[1]
    assert (answers[0]["n_learned"], answers[0]["n_not_scored"]) == (1, 1)
