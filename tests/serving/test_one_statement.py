"""predict(id) and learn(id) in one statement each on Postgres: the head read in the statement that writes.

A predict with an id stores its pending row in the statement that reads the head, and answers again from that
head when something was learned or rerouted since its replicas last synced; a learn by id consumes the pending row
and appends its entry in one statement (a transaction of its own). Anything that statement does not take goes the
plain way (head read, then a transaction), so every answer is the one the plain path gives.
"""

import itertools
import threading

import dill
import pytest
from django.db import connections
from river import datasets, linear_model, preprocessing

import serving
from catalogue import services
from catalogue.errors import Conflict, NotFound
from serving import log
from serving.models import LearnEvent, PendingPrediction
from serving.process import ServingProcess, acting_as, current
from tests import factories
from tests.conftest import is_postgres

pytestmark = pytest.mark.django_db

STREAM = list(itertools.islice(datasets.TrumpApproval(), 60))


def regressor():
    return preprocessing.StandardScaler() | linear_model.LinearRegression()


def live_model(name="live"):
    model = factories.MLModelFactory(name=name)
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(regressor()))
    services.deployment_promote(version=version)
    return model, version


def pairs(stream, *, start=0, model="live"):
    for i, (x, y) in enumerate(stream, start):
        serving.predict(model=model, features=x, id=i)
        serving.learn(model=model, id=i, ground_truth=y)


def test_a_warm_predict_with_an_id_and_its_learn_are_one_statement_each_on_postgres(django_assert_max_num_queries):
    # Given a warm model (replica loaded, this process's entry cached)
    live_model()
    pairs(STREAM[:3])
    x, y = STREAM[3]
    # When a predict with an id and its learn run; then each is one statement on Postgres (the plain path's
    # head read, pending upsert, take, counter and insert on SQLite, which runs in this process)
    with django_assert_max_num_queries(1 if is_postgres() else 2):
        serving.predict(model="live", features=x, id="n")
    with django_assert_max_num_queries(1 if is_postgres() else 6):
        learned = serving.learn(model="live", id="n", ground_truth=y)
    # And the learn is in the log with the stored features and prediction
    event = LearnEvent.objects.get(model__name="live", seq=learned.seq)
    assert (event.key, learned.features, learned.version) == (log.pending_key("n"), x, 1)


def test_a_predict_after_another_process_learned_answers_from_the_caught_up_state():
    # Given this process warm, and another process that learns behind its back
    live_model()
    reference = regressor()
    pairs(STREAM[:5])
    for x, y in STREAM[:5]:
        reference.learn_one(x, y)
    with acting_as(ServingProcess()):
        for x, y in STREAM[5:8]:
            serving.learn(model="live", features=x, ground_truth=y)
            reference.learn_one(x, y)
    # When this process predicts with an id
    x, y = STREAM[8]
    answer = serving.predict(model="live", features=x, id="after")
    # Then it answers from the state after those learns, and its pending row holds that prediction
    assert answer.prediction == reference.predict_one(x)
    assert answer.state_seq == 8
    assert serving.learn(model="live", id="after", ground_truth=y).prediction == answer.prediction


def test_a_predict_after_a_promotion_elsewhere_answers_with_the_new_version():
    # Given this process warm on v1
    model, _v1 = live_model()
    pairs(STREAM[:3])
    # When another process (here: the service) promotes v2, and this process predicts with an id
    other = linear_model.LinearRegression(intercept_init=5)
    v2 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(other))
    services.deployment_promote(version=v2)
    answer = serving.predict(model="live", features=STREAM[3][0], id="p")
    # Then v2 answered, and the pending row is v2's
    assert answer.version == 2
    assert PendingPrediction.objects.get(model=model, key=log.pending_key("p")).version_id == v2.pk


def test_a_learn_by_id_after_another_process_appended_catches_up_to_the_log_order():
    # Given this process predicted with an id, then another process learned two entries
    live_model()
    reference = regressor()
    pairs(STREAM[:3])
    for x, y in STREAM[:3]:
        reference.learn_one(x, y)
    x, y = STREAM[3]
    serving.predict(model="live", features=x, id="mine")
    reference_prediction = reference.predict_one(x)
    other = ServingProcess()
    with acting_as(other):
        for xo, yo in STREAM[4:6]:
            serving.learn(model="live", features=xo, ground_truth=yo)
            reference.learn_one(xo, yo)
    # When this process learns its id
    learned = serving.learn(model="live", id="mine", ground_truth=y)
    reference.learn_one(x, y)
    # Then its entry comes after theirs, and this process applied all three in log order, as the other will
    assert learned.seq == 6
    assert learned.prediction == reference_prediction
    probe = STREAM[10][0]
    answers = []
    for process in (current(), other, ServingProcess()):
        with acting_as(process):
            answers.append((serving.predict(model="live", features=probe).prediction, serving.metrics(model="live")))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == reference.predict_one(probe)
    assert answers[0][1]["n_learned"] == 6


def test_a_learn_by_id_of_a_version_not_loaded_here_is_learned_by_that_version():
    # Given this process warm on v1, and another process that predicted with v2 after a promotion
    model, _v1 = live_model()
    pairs(STREAM[:3])
    v2 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(linear_model.LinearRegression(l2=0.1)))
    services.deployment_promote(version=v2)
    with acting_as(ServingProcess()):
        serving.predict(model="live", features=STREAM[3][0], id="v2")
    # When this process learns that id
    learned = serving.learn(model="live", id="v2", ground_truth=STREAM[3][1])
    # Then v2 learned it (the plain path loads it), and v1 did not
    assert learned.version == 2
    assert serving.metrics(model="live", version=2)["n_learned"] == 1
    assert serving.metrics(model="live", version=1)["n_learned"] == 3


def test_unknown_learned_and_expired_ids_are_refused_as_on_the_plain_path(settings):
    # Given a warm model, an id learned already and one left to expire
    live_model()
    pairs(STREAM[:3])
    serving.predict(model="live", features=STREAM[3][0], id="old")
    settings.RHYTHMIC_PENDING_TTL = 0
    # Then an unknown id is not found, a learned one a conflict, an expired one not found; nothing is appended
    with pytest.raises(NotFound):
        serving.learn(model="live", id="never", ground_truth=1.0)
    with pytest.raises(Conflict):
        serving.learn(model="live", id=1, ground_truth=1.0)
    with pytest.raises(NotFound):
        serving.learn(model="live", id="old", ground_truth=1.0)
    assert LearnEvent.objects.filter(model__name="live").count() == 3


def test_a_model_deleted_and_created_again_under_its_name_is_served_anew():
    # Given this process warm on a model
    model, _ = live_model()
    pairs(STREAM[:3])
    # When it is deleted and a new one takes its name
    model.delete()
    live_model()
    # Then a pair goes to the new model, from its empty state
    answer = serving.predict(model="live", features=STREAM[0][0], id=0)
    assert answer.state_seq == 0
    assert serving.learn(model="live", id=0, ground_truth=STREAM[0][1]).seq == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgres_only")
def test_concurrent_pairs_in_one_statement_each_leave_every_process_with_the_log_order():
    # Given a warm model and four threads of this process sending predict(id) + learn(id) pairs at once
    writers = 4
    live_model(name="busy")
    stream = list(itertools.islice(datasets.TrumpApproval(), 30 * writers))
    serving.predict(model="busy", features=stream[0][0])
    start = threading.Barrier(writers + 1)
    done = threading.Event()
    learned: list[tuple[int, dict, float]] = []
    gaps: list[list[int]] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait()
            for i, (x, y) in enumerate(stream[n::writers]):
                serving.predict(model="busy", features=x, id=f"{n}-{i}")
                learned.append((serving.learn(model="busy", id=f"{n}-{i}", ground_truth=y).seq, x, y))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    def reader(model_id: int) -> None:
        try:
            start.wait()
            while not done.is_set():
                seqs = [e.seq for e in log.read_tail(model_id=model_id, after=0, upto=10**9)]
                if seqs != list(range(1, len(seqs) + 1)):
                    gaps.append(seqs)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    watcher = threading.Thread(target=reader, args=(log.read_head("busy").model_id,))
    # When they all run
    for thread in [*threads, watcher]:
        thread.start()
    for thread in threads:
        thread.join(120)
    done.set()
    watcher.join(60)
    # Then every learn was appended once, every snapshot of the log was gap-free, and this process and a fresh
    # one hold the model fed every learn in sequence order
    assert errors == []
    assert gaps == []
    assert sorted(seq for seq, _, _ in learned) == list(range(1, len(stream) + 1))
    reference = regressor()
    for _, x, y in sorted(learned, key=lambda item: item[0]):
        reference.learn_one(x, y)
    probe = stream[0][0]
    answers = []
    for process in (current(), ServingProcess()):
        with acting_as(process):
            answers.append((serving.predict(model="busy", features=probe).prediction, serving.metrics(model="busy")))
    assert answers[0] == answers[1]
    assert answers[0][0] == reference.predict_one(probe)
    assert answers[0][1]["n_learned"] == len(stream)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("postgres_only")
def test_pending_rows_committed_without_waiting_for_the_flush_still_serve_their_learn(settings):
    # Given RHYTHMIC_PENDING_SYNCHRONOUS_COMMIT off and a warm model
    settings.RHYTHMIC_PENDING_SYNCHRONOUS_COMMIT = False
    live_model()
    pairs(STREAM[:3])
    # When a predict with an id stores its row (its own transaction, committed asynchronously) and is learned
    x, y = STREAM[3]
    answer = serving.predict(model="live", features=x, id="quick")
    assert PendingPrediction.objects.filter(key=log.pending_key("quick")).exists()
    learned = serving.learn(model="live", id="quick", ground_truth=y)
    # Then the learn used it, and the setting did not outlive that statement: the session still flushes commits
    assert learned.prediction == answer.prediction
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)
