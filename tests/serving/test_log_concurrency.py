"""The learn log under concurrent writers on Postgres: sequence order is visibility order."""

import itertools
import threading

import dill
import pytest
from django.db import connections, transaction
from river import datasets, linear_model, preprocessing

import serving
from catalogue import services
from serving import log, retention
from serving.models import LearnEvent
from serving.process import ServingProcess, acting_as, current
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

WRITERS = 4
APPENDS = 30


def test_a_reader_never_sees_a_sequence_number_before_all_smaller_ones():
    # Given a model and writers that hold their transaction open a moment after appending
    version = factories.ModelVersionFactory()
    model_id = version.model_id
    start = threading.Barrier(WRITERS + 1)
    done = threading.Event()
    gaps: list[tuple[int, list[int]]] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(APPENDS):
                with transaction.atomic():
                    log.append(
                        model_id=model_id,
                        entries=[
                            {
                                "version_id": version.pk,
                                "key": f"{n}-{i}",
                                "features": {"i": i},
                                "ground_truth": 1.0,
                                "prediction": {"value": 0.0},
                            }
                        ],
                    )
                    # Widen the window between taking a number and committing it.
                    connections["default"].cursor().execute("SELECT pg_sleep(0.002)")
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    def reader() -> None:
        try:
            start.wait()
            seen = 0
            while not done.is_set() or seen < WRITERS * APPENDS:
                # Everything visible at any instant must be a prefix 1..n of the log.
                seqs = [e.seq for e in log.read_tail(model_id=model_id, after=0, upto=10**9)]
                if seqs != list(range(1, len(seqs) + 1)):
                    gaps.append((len(seqs), seqs))
                seen = len(seqs)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    watcher = threading.Thread(target=reader)
    for thread in [*threads, watcher]:
        thread.start()
    # When they all append at once
    for thread in threads:
        thread.join(60)
    done.set()
    watcher.join(60)
    # Then every reader snapshot was gap-free, and the log is exactly 1..N
    assert errors == []
    assert gaps == []
    final = log.read_tail(model_id=model_id, after=0, upto=10**9)
    assert [e.seq for e in final] == list(range(1, WRITERS * APPENDS + 1))


def test_pruning_while_writers_learn_leaves_every_process_with_the_state_of_the_log_order(settings):
    # Given a live model that checkpoints every 10 learns and keeps only its newest 3 entries, pruned at
    # every learn, and four threads of one process learning at once
    settings.RHYTHMIC_CHECKPOINT_EVERY = 10
    settings.RHYTHMIC_LOG_RETENTION_DAYS = 0
    settings.RHYTHMIC_LOG_RETENTION_ENTRIES = 3
    settings.RHYTHMIC_LOG_PRUNE_SECONDS = 0

    def regressor():
        return preprocessing.StandardScaler() | linear_model.LinearRegression()

    model = factories.MLModelFactory(name="pruned")
    services.deployment_promote(version=factories.ModelVersionFactory(model=model, artifact=dill.dumps(regressor())))
    stream = list(itertools.islice(datasets.TrumpApproval(), WRITERS * APPENDS))
    start = threading.Barrier(WRITERS)
    learned: list[tuple[int, dict, float]] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait()
            for x, y in stream[n::WRITERS]:
                seq = serving.learn(model="pruned", features=x, ground_truth=y).seq
                learned.append((seq, x, y))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    # When they learn while each learn prunes
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    retention.log_prune()
    # Then the log was pruned to its newest entries
    assert LearnEvent.objects.filter(model=model).count() < WRITERS * APPENDS
    # And this process and a fresh one both hold the model fed every learn in sequence order
    reference = regressor()
    for _, x, y in sorted(learned, key=lambda item: item[0]):
        reference.learn_one(x, y)
    probe = stream[0][0]
    fresh = ServingProcess()
    answers = []
    for process in (current(), fresh):
        with acting_as(process):
            answers.append(
                (serving.predict(model="pruned", features=probe).prediction, serving.metrics(model="pruned"))
            )
    assert answers[0] == answers[1]
    assert answers[0][0] == reference.predict_one(probe)
    assert answers[0][1]["n_learned"] == WRITERS * APPENDS
