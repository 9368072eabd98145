"""A rewind while other threads learn and checkpoint (Postgres): no deadlock, and every process ends with the
model fed the kept entries in sequence order (none of the undone state survives in a checkpoint)."""

import itertools
import threading

import dill
import pytest
from django.db import connections
from river import datasets, linear_model, preprocessing

import serving
from catalogue import services
from serving.process import ServingProcess, acting_as, current
from serving.rewind import version_rewind
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

WRITERS = 3
APPENDS = 30


def regressor():
    return preprocessing.StandardScaler() | linear_model.LinearRegression()


def test_a_rewind_while_writers_learn_leaves_every_process_with_the_kept_entries_in_log_order(settings):
    # Given a live model that checkpoints every 3 learns, and three threads learning at once
    settings.RHYTHMIC_CHECKPOINT_EVERY = 3
    model = factories.MLModelFactory(name="busy")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(regressor()))
    services.deployment_promote(version=version)
    stream = list(itertools.islice(datasets.TrumpApproval(), WRITERS * APPENDS))
    learned: list[tuple[int, dict, float]] = []
    errors: list[BaseException] = []
    halfway = threading.Event()

    def writer(n: int) -> None:
        try:
            for i, (x, y) in enumerate(stream[n::WRITERS]):
                learned.append((serving.learn(model="busy", features=x, ground_truth=y).seq, x, y))
                if i == APPENDS // 2:
                    halfway.set()
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    # When the version is rewound to entry 10 while they learn
    assert halfway.wait(60)
    rewind = version_rewind(model=model, version=version, to_seq=10)
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert 10 < rewind.head_seq < WRITERS * APPENDS  # it came between learns
    # Then this process and a fresh one hold the model fed entries 1-10 and those after the rewind, in order
    kept = sorted((s, x, y) for s, x, y in learned if s <= 10 or s > rewind.head_seq)
    reference = regressor()
    for _, x, y in kept:
        reference.learn_one(x, y)
    probe = stream[0][0]
    for process in (current(), ServingProcess()):
        with acting_as(process):
            assert serving.predict(model="busy", features=probe).prediction == pytest.approx(
                reference.predict_one(probe), abs=1e-9, rel=1e-9
            )
            assert serving.metrics(model="busy")["n_learned"] == len(kept)
