"""Challengers under concurrent writers on Postgres: their states follow the log order, in every process."""

import itertools
import threading

import dill
import pytest
from django.db import connections
from river import datasets, linear_model, preprocessing

import serving
from catalogue import services
from serving.process import ServingProcess, acting_as, current
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

WRITERS = 4
LEARNS = 25


def challenger_model():
    return preprocessing.MaxAbsScaler() | linear_model.LinearRegression()


def test_concurrent_learns_leave_the_challenger_in_the_state_of_the_log_order(settings):
    # Given a live model with a challenger, checkpointing every 10 learns, and four threads learning at once
    settings.RHYTHMIC_CHECKPOINT_EVERY = 10
    model = factories.MLModelFactory(name="busy")
    production = preprocessing.StandardScaler() | linear_model.LinearRegression()
    services.deployment_promote(version=factories.ModelVersionFactory(model=model, artifact=dill.dumps(production)))
    challenger = factories.ModelVersionFactory(model=model, artifact=dill.dumps(challenger_model()))
    services.challenger_add(version=challenger)
    stream = list(itertools.islice(datasets.TrumpApproval(), WRITERS * LEARNS))
    start = threading.Barrier(WRITERS)
    learned: list[tuple[int, dict, float]] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait()
            for i, (x, y) in enumerate(stream[n::WRITERS]):
                if i % 2:
                    seq = serving.learn(model="busy", features=x, ground_truth=y).seq
                else:
                    serving.predict(model="busy", features=x, id=f"{n}-{i}")
                    seq = serving.learn(model="busy", id=f"{n}-{i}", ground_truth=y).seq
                learned.append((seq, x, y))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    # Then this process and a fresh one hold the challenger fed every learn in sequence order
    reference = challenger_model()
    for _, x, y in sorted(learned, key=lambda item: item[0]):
        reference.learn_one(x, y)
    probe = stream[0][0]
    states = []
    for process in (current(), ServingProcess()):
        with acting_as(process):
            entry = current().replicas.entry("busy")
            with entry.lock:
                replica = entry.replica(challenger.pk)
                states.append((replica.servable.predict(probe), replica.n_learned))
            metrics = serving.metrics(model="busy", version=2)
    assert states[0] == states[1] == (reference.predict_one(probe), WRITERS * LEARNS)
    assert metrics["n_learned"] == WRITERS * LEARNS
