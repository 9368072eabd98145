"""Challengers and the canary: versions that learn every event beside production, scored on their own predictions,
as river's progressive validation would score them; part of the replicated state of every process."""

import contextlib
import copy
import itertools
from collections import Counter

import dill
import pytest
from river import datasets, evaluate, linear_model, metrics, optim, preprocessing

import serving
from catalogue import services
from catalogue.errors import Conflict, InvalidInput, NotFound
from catalogue.models import Challenger, Deployment, MLModel, ModelVersion
from serving import log, retention
from serving.models import Checkpoint, LearnEvent, PendingPrediction, ShadowPrediction
from serving.process import ServingProcess, acting_as, current
from tests import factories

pytestmark = pytest.mark.django_db

STREAM = list(itertools.islice(datasets.TrumpApproval(), 120))
PROBE = STREAM[0][0]


def production_model():
    return preprocessing.StandardScaler() | linear_model.LinearRegression()


def challenger_model():
    return preprocessing.MaxAbsScaler() | linear_model.LinearRegression(l2=0.01)


def third_model():
    return preprocessing.StandardScaler() | linear_model.LinearRegression(optimizer=optim.SGD(0.05))


def river_scores(model, stream=STREAM) -> dict:
    """river's progressive validation of ``model`` with the regression flavor's metrics."""
    expected = metrics.MAE() + metrics.RMSE() + metrics.SMAPE()
    evaluate.progressive_val_score(stream, copy.deepcopy(model), expected)
    return {type(m).__name__: m.get() for m in expected}


def trained(model, stream=STREAM):
    model = copy.deepcopy(model)
    for x, y in stream:
        model.learn_one(x, y)
    return model


def assert_scores(served: dict, expected: dict) -> None:
    assert served.keys() == expected.keys()
    for name, value in expected.items():
        assert served[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


@pytest.fixture
def lifecycle():
    """A model "live": v1 in production, v2 and v3 ready, none of them learning beside it yet."""
    model = factories.MLModelFactory(name="live")
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(production_model()))
    v2 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(challenger_model()))
    v3 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(third_model()))
    services.deployment_promote(version=v1)
    return model, v1, v2, v3


def stream_with_ids(stream=STREAM, start=0):
    for i, (x, y) in enumerate(stream, start):
        serving.predict(model="live", features=x, id=i)
        serving.learn(model="live", id=i, ground_truth=y)


def stream_without_ids(stream=STREAM):
    for x, y in stream:
        serving.learn(model="live", features=x, ground_truth=y)


# --- scored as river scores them ----------------------------------------------------------------


@pytest.mark.parametrize("feed", [stream_with_ids, stream_without_ids], ids=["with ids", "without ids"])
def test_challengers_metrics_equal_rivers_progressive_validation(lifecycle, feed):
    # Given two challengers beside production
    _, _, v2, v3 = lifecycle
    services.challenger_add(version=v2)
    services.challenger_add(version=v3)
    # When the stream goes through predict -> learn (or learn with features)
    feed()
    # Then every version's metrics are river's progressive validation of its own model on that stream
    for number, model in [(1, production_model()), (2, challenger_model()), (3, third_model())]:
        served = serving.metrics(model="live", version=number)
        assert_scores(served["metrics"], river_scores(model))
        assert served["n_learned"] == len(STREAM)
    # And only production answered: the challengers' predictions are shadow rows
    assert set(LearnEvent.objects.values_list("version__number", flat=True)) == {1}
    assert ShadowPrediction.objects.count() == 2 * len(STREAM)


def test_a_challenger_never_answers_and_its_prediction_waits_with_the_pending_one(lifecycle):
    _, v1, v2, _ = lifecycle
    services.challenger_add(version=v2)
    answer = serving.predict(model="live", features=PROBE, id="a")
    assert answer.version == 1
    pending = PendingPrediction.objects.get(key='"a"')
    assert pending.version_id == v1.pk
    assert pending.shadow == {str(v2.pk): {"value": challenger_model().predict_one(PROBE)}}


def test_without_challengers_nothing_is_stored_beside_the_log(lifecycle):
    stream_with_ids(STREAM[:5])
    assert PendingPrediction.objects.count() == 0
    assert ShadowPrediction.objects.count() == 0
    serving.predict(model="live", features=PROBE, id="x")
    assert PendingPrediction.objects.get().shadow is None
    assert MLModel.objects.get(name="live").shadow_seq == 0


def test_a_challenger_added_midstream_is_scored_from_then_on(lifecycle):
    _, _, v2, _ = lifecycle
    stream_with_ids(STREAM[:40])
    services.challenger_add(version=v2)
    stream_with_ids(STREAM[40:], start=40)
    assert_scores(serving.metrics(model="live", version=2)["metrics"], river_scores(challenger_model(), STREAM[40:]))
    assert_scores(serving.metrics(model="live", version=1)["metrics"], river_scores(production_model()))


def test_removing_a_challenger_stops_its_learning_even_for_predictions_made_before(lifecycle):
    _, _, v2, _ = lifecycle
    services.challenger_add(version=v2)
    stream_with_ids(STREAM[:30])
    serving.predict(model="live", features=STREAM[30][0], id="late")
    services.challenger_remove(version=v2)
    serving.learn(model="live", id="late", ground_truth=STREAM[30][1])
    stream_without_ids(STREAM[31:40])
    assert serving.metrics(model="live", version=2)["n_learned"] == 30
    assert serving.metrics(model="live", version=1)["n_learned"] == 40
    assert_scores(serving.metrics(model="live", version=2)["metrics"], river_scores(challenger_model(), STREAM[:30]))


# --- promotion keeps what it learned ------------------------------------------------------------


@pytest.mark.parametrize("where", ["same process", "restarted process", "another process"])
def test_promoting_a_challenger_keeps_its_learned_state(lifecycle, where):
    # Given a challenger that learned the whole stream beside production (half of it seen by another process)
    _, _, v2, _ = lifecycle
    services.challenger_add(version=v2)
    other = ServingProcess()
    stream_with_ids(STREAM[:60])
    with acting_as(other):
        serving.predict(model="live", features=PROBE, id="warm")  # loads production and the challenger there
    stream_with_ids(STREAM[60:], start=60)
    # When it is promoted
    services.deployment_promote(version=v2)
    if where == "restarted process":
        current().reset()
    with acting_as(other) if where == "another process" else contextlib.nullcontext():
        # Then it answers with its live state (trained on every event), not with its artifact
        answer = serving.predict(model="live", features=PROBE)
        assert answer.version == 2
        assert answer.prediction == trained(challenger_model()).predict_one(PROBE)
        assert answer.prediction != challenger_model().predict_one(PROBE)
        # And it is production now, no longer a challenger; it keeps learning and being scored
        assert not Challenger.objects.exists()
        serving.learn(model="live", features=STREAM[0][0], ground_truth=STREAM[0][1])
        expected = river_scores(challenger_model(), STREAM + STREAM[:1])
        assert_scores(serving.metrics(model="live")["metrics"], expected)


# --- every process agrees -----------------------------------------------------------------------


def test_two_processes_alternating_agree_on_the_challengers_states(lifecycle):
    # Given two processes that both serve the model, with a challenger
    _, _, v2, _ = lifecycle
    services.challenger_add(version=v2)
    processes = [ServingProcess(), ServingProcess()]
    # When they take turns at predicting and learning (each applies the other's learns when it catches up)
    for i, (x, y) in enumerate(STREAM):
        with acting_as(processes[i % 2]):
            serving.predict(model="live", features=x, id=i)
        with acting_as(processes[(i + 1) % 2]):
            serving.learn(model="live", id=i, ground_truth=y)
    # Then both report the same challenger metrics, river's, and predict the same as the trained river model
    expected = river_scores(challenger_model())
    reference = trained(challenger_model())
    for process in processes:
        with acting_as(process):
            assert_scores(serving.metrics(model="live", version=2)["metrics"], expected)
            entry = current().replicas.entry("live")
            with entry.lock:
                assert entry.replica(v2.pk).servable.predict(PROBE) == reference.predict_one(PROBE)


@pytest.mark.parametrize("checkpoint_every", [1000, 7])
def test_a_restarted_process_has_the_same_challenger_state(lifecycle, settings, checkpoint_every):
    settings.RHYTHMIC_CHECKPOINT_EVERY = checkpoint_every
    _, _, v2, v3 = lifecycle
    services.challenger_add(version=v2)
    stream_with_ids(STREAM[:50])
    services.challenger_add(version=v3)
    stream_without_ids(STREAM[50:])
    before = {n: serving.metrics(model="live", version=n) for n in (1, 2, 3)}
    if checkpoint_every < 1000:
        assert Checkpoint.objects.filter(version=v2).exists()
    with acting_as(ServingProcess()):  # a freshly started process
        after = {n: serving.metrics(model="live", version=n) for n in (1, 2, 3)}
        entry = current().replicas.entry("live")
        with entry.lock:
            got = entry.replica(v2.pk).servable.predict(PROBE)
    assert after == before
    assert got == trained(challenger_model()).predict_one(PROBE)
    assert_scores(after[3]["metrics"], river_scores(third_model(), STREAM[50:]))


def test_version_stream_is_the_entries_a_version_answered_and_those_it_shadowed(lifecycle):
    model, v1, v2, _ = lifecycle
    stream_without_ids(STREAM[:3])
    services.challenger_add(version=v2)
    stream_without_ids(STREAM[3:6])
    v2_stream = log.version_stream(model_id=model.pk, version_id=v2.pk, after=0, upto=100)
    assert [e.seq for e in v2_stream] == [4, 5, 6]
    assert all(e.version_id == v2.pk for e in v2_stream)
    assert [e.features for e in v2_stream] == [x for x, _ in STREAM[3:6]]
    shadow = ShadowPrediction.objects.get(seq=4)
    assert v2_stream[0].prediction == shadow.prediction
    assert [e.seq for e in log.version_stream(model_id=model.pk, version_id=v1.pk, after=2, upto=5)] == [3, 4, 5]


def test_pruning_the_log_keeps_what_a_challenger_still_needs(lifecycle, settings):
    # Given a challenger and a short retention
    settings.RHYTHMIC_CHECKPOINT_EVERY = 10_000
    settings.RHYTHMIC_LOG_RETENTION_DAYS = 0
    settings.RHYTHMIC_LOG_RETENTION_ENTRIES = 20
    _, _, v2, _ = lifecycle
    services.challenger_add(version=v2)
    stream_without_ids(STREAM[:60])
    before = serving.metrics(model="live", version=2)
    # When the log is pruned (checkpointing what it deletes)
    assert retention.log_prune() > 0
    assert not ShadowPrediction.objects.filter(seq__lte=40).exists()
    # Then a fresh process still has the challenger's state and metrics
    with acting_as(ServingProcess()):
        assert serving.metrics(model="live", version=2) == before
        stream_without_ids(STREAM[60:])
        assert_scores(serving.metrics(model="live", version=2)["metrics"], river_scores(challenger_model()))


# --- the canary ---------------------------------------------------------------------------------


def test_the_canary_answers_its_share_of_ids_and_the_same_id_always_goes_to_the_same_version(lifecycle):
    _, _, v2, _ = lifecycle
    services.canary_set(version=v2, percent=30)
    answered = {i: serving.predict(model="live", features=PROBE, id=f"user-{i}").version for i in range(2000)}
    share = Counter(answered.values())[2] / len(answered)
    assert share == pytest.approx(0.30, abs=0.03)
    # Sticky: again, and in another process
    with acting_as(ServingProcess()):
        again = {i: serving.predict(model="live", features=PROBE, id=f"user-{i}").version for i in range(0, 2000, 7)}
    assert again == {i: answered[i] for i in range(0, 2000, 7)}


def test_requests_without_an_id_are_split_at_random(lifecycle):
    _, _, v2, _ = lifecycle
    services.canary_set(version=v2, percent=20)
    versions = Counter(serving.predict(model="live", features=PROBE).version for _ in range(5000))
    assert versions[2] / 5000 == pytest.approx(0.20, abs=0.03)  # 5 standard deviations


def test_a_learn_by_id_goes_to_the_version_that_answered_and_both_learn_every_event(lifecycle):
    # Given a 50% canary
    _, v1, v2, _ = lifecycle
    services.canary_set(version=v2, percent=50)
    # When the stream goes through predict(id) -> learn(id)
    answers = {}
    for i, (x, y) in enumerate(STREAM):
        answers[i] = serving.predict(model="live", features=x, id=i).version
        assert serving.learn(model="live", id=i, ground_truth=y).version == answers[i]
    # Then each log entry is the answering version's, and both versions are scored on every event, as river would
    logged = dict(LearnEvent.objects.values_list("key", "version__number"))
    assert logged == {str(i): n for i, n in answers.items()}
    assert set(answers.values()) == {1, 2}
    assert_scores(serving.metrics(model="live", version=1)["metrics"], river_scores(production_model()))
    assert_scores(serving.metrics(model="live", version=2)["metrics"], river_scores(challenger_model()))
    assert ShadowPrediction.objects.filter(version=v1).count() == Counter(answers.values())[2]


def test_a_full_canary_answers_everything_and_ending_it_sends_everything_back(lifecycle):
    _, _, v2, _ = lifecycle
    services.canary_set(version=v2, percent=100)
    assert {serving.predict(model="live", features=PROBE, id=i).version for i in range(50)} == {2}
    services.canary_end(model=MLModel.objects.get(name="live"))
    assert {serving.predict(model="live", features=PROBE, id=i).version for i in range(50)} == {1}


def test_a_canary_replaces_a_challenger_of_the_same_version_and_keeps_its_state(lifecycle):
    _, _, v2, _ = lifecycle
    services.challenger_add(version=v2)
    stream_with_ids(STREAM[:20])
    services.canary_set(version=v2, percent=10)
    stream_with_ids(STREAM[20:], start=20)
    assert not Challenger.objects.exists()
    assert_scores(serving.metrics(model="live", version=2)["metrics"], river_scores(challenger_model()))


# --- preconditions ------------------------------------------------------------------------------


def test_only_a_ready_version_other_than_production_may_be_a_challenger(lifecycle):
    _model, v1, v2, v3 = lifecycle
    with pytest.raises(Conflict, match="in production"):
        services.challenger_add(version=v1)
    ModelVersion.objects.filter(pk=v3.pk).update(status=ModelVersion.Status.FAILED)
    with pytest.raises(Conflict, match="only ready versions"):
        services.challenger_add(version=ModelVersion.objects.get(pk=v3.pk))
    services.challenger_add(version=v2)
    with pytest.raises(Conflict, match="already a challenger"):
        services.challenger_add(version=v2)
    services.challenger_remove(version=v2)
    with pytest.raises(NotFound, match="not a challenger"):
        services.challenger_remove(version=v2)


def test_a_model_without_production_has_no_challenger_or_canary():
    model = factories.MLModelFactory(name="empty")
    version = factories.ModelVersionFactory(model=model)
    with pytest.raises(Conflict, match="no production version"):
        services.challenger_add(version=version)
    with pytest.raises(Conflict, match="no production version"):
        services.canary_set(version=version, percent=5)


@pytest.mark.parametrize("percent", [0, -5, 100.5, "10", None, True])
def test_a_canary_percent_is_above_0_and_at_most_100(lifecycle, percent):
    _, _, v2, _ = lifecycle
    with pytest.raises(InvalidInput, match="percent"):
        services.canary_set(version=v2, percent=percent)


def test_the_canary_cannot_be_production_or_a_second_challenger(lifecycle):
    model, v1, v2, _ = lifecycle
    with pytest.raises(Conflict, match="in production"):
        services.canary_set(version=v1, percent=5)
    with pytest.raises(NotFound, match="no canary"):
        services.canary_end(model=model)
    services.canary_set(version=v2, percent=5)
    with pytest.raises(Conflict, match="is the canary"):
        services.challenger_add(version=v2)


def test_retiring_or_promoting_takes_a_version_out_of_the_challengers_and_the_canary(lifecycle):
    model, _, v2, v3 = lifecycle
    services.challenger_add(version=v2)
    services.canary_set(version=v3, percent=5)
    services.version_retire(version=v2)
    services.deployment_promote(version=v3)
    model.refresh_from_db()
    assert model.challenger_ids == "[]"
    assert model.canary_version_id is None
    assert not Challenger.objects.exists()
    head = log.read_head("live")
    assert head.learning() == (v3.pk,)


def test_each_change_is_in_the_deployment_history(lifecycle):
    model, _, v2, v3 = lifecycle
    services.challenger_add(version=v2, note="try minmax")
    services.canary_set(version=v3, percent=12.5)
    services.challenger_remove(version=v2)
    services.canary_end(model=model)
    history = list(model.deployments.order_by("id").values_list("action", "from_version", "to_version", "note"))
    assert history[1:] == [
        (Deployment.Action.ADD_CHALLENGER, None, v2.pk, "try minmax"),
        (Deployment.Action.SET_CANARY, None, v3.pk, "12.5% of predictions"),
        (Deployment.Action.REMOVE_CHALLENGER, v2.pk, None, ""),
        (Deployment.Action.END_CANARY, v3.pk, None, ""),
    ]


def test_the_head_carries_challengers_and_canary_in_one_read(lifecycle, django_assert_num_queries):
    _model, v1, v2, v3 = lifecycle
    services.challenger_add(version=v2)
    services.canary_set(version=v3, percent=25)
    with django_assert_num_queries(1):
        head = log.read_head("live")
    assert head.challenger_ids == (v2.pk,)
    assert (head.canary_version_id, head.canary_percent) == (v3.pk, 25.0)
    assert head.learning() == (v1.pk, v3.pk, v2.pk)


def count_statements(call) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    return [q["sql"] for q in captured.captured_queries]


def test_without_challengers_the_hot_path_runs_no_extra_statement_and_with_one_a_learn_adds_one(lifecycle):
    # Given a warm model without challengers
    _, _, v2, _ = lifecycle
    stream_with_ids(STREAM[:5])
    x, y = STREAM[5]
    plain = [
        count_statements(lambda: serving.predict(model="live", features=x, id="p")),
        count_statements(lambda: serving.learn(model="live", id="p", ground_truth=y)),
        count_statements(lambda: serving.learn(model="live", features=x, ground_truth=y)),
    ]
    assert not any(ShadowPrediction._meta.db_table in sql for statements in plain for sql in statements)
    # When a challenger learns beside production (its replica loaded by a first pair)
    services.challenger_add(version=v2)
    stream_with_ids(STREAM[6:8], start=6)
    beside = [
        count_statements(lambda: serving.predict(model="live", features=x, id="q")),
        count_statements(lambda: serving.learn(model="live", id="q", ground_truth=y)),
        count_statements(lambda: serving.learn(model="live", features=x, ground_truth=y)),
    ]
    # Then a predict runs as many statements, and a learn one more than the plain path's: the shadow insert (a
    # learn by id is a learn with features' statements and the take of its pending row; on Postgres, without
    # challengers, it is one statement, which does not carry shadow rows)
    assert len(beside[0]) == len(plain[0])
    assert len(beside[1]) == len(plain[2]) + 2
    assert len(beside[2]) == len(plain[2]) + 1


def batch_scores(model, size: int) -> dict:
    """river, fed the stream as the batch routes do: predict a batch, then learn it."""
    expected = metrics.MAE() + metrics.RMSE() + metrics.SMAPE()
    model = copy.deepcopy(model)
    for start in range(0, len(STREAM), size):
        chunk = STREAM[start : start + size]
        predictions = [model.predict_one(x) for x, _ in chunk]
        for (x, y), prediction in zip(chunk, predictions, strict=True):
            expected.update(y, prediction)
            model.learn_one(x, y)
    return {type(m).__name__: m.get() for m in expected}


def test_batches_carry_the_challengers_predictions_as_single_calls_do(lifecycle):
    # Given a challenger and a canary
    _, _, v2, v3 = lifecycle
    services.challenger_add(version=v2)
    services.canary_set(version=v3, percent=40)
    # When the stream goes through predict_many then learn_many, by id, in batches of 30
    answered = {}
    for start in range(0, len(STREAM), 30):
        chunk = list(enumerate(STREAM[start : start + 30], start))
        results = serving.predict_many(model="live", items=[{"features": x, "id": i} for i, (x, _) in chunk])
        answered.update({r["id"]: r["version"] for r in results})
        learned = serving.learn_many(model="live", items=[{"id": i, "ground_truth": y} for i, (_, y) in chunk])
        assert [r["version"] for r in learned] == [answered[i] for i, _ in chunk]
    # Then every version is scored on its own predictions of each batch, and the canary's share is sticky per id
    for number, model in [(1, production_model()), (2, challenger_model()), (3, third_model())]:
        assert_scores(serving.metrics(model="live", version=number)["metrics"], batch_scores(model, 30))
    assert {answered[i] for i in range(len(STREAM))} == {1, 3}
    again = serving.predict_many(model="live", items=[{"features": PROBE, "id": i} for i in range(len(STREAM))])
    assert {r["id"]: r["version"] for r in again} == answered


def test_predict_many_tells_observers_once_with_every_answered_item(lifecycle):
    from serving import observers

    seen = []

    @observers.observe("predict")
    def record(*, model, predicted):
        seen.append([(model, item.id, item.version) for item in predicted])

    try:
        results = serving.predict_many(
            model="live", items=[{"features": PROBE, "id": 1}, {"features": "bad"}, {"features": PROBE}]
        )
    finally:
        observers._observers["predict"].remove(record)
    assert "error" in results[1]
    assert seen == [[("live", 1, 1), ("live", None, 1)]]


def test_a_challenger_that_cannot_load_never_takes_productions_answers_down(lifecycle):
    # Given a challenger whose artifact no longer loads (a package missing on this server, say)
    _, _, v2, _ = lifecycle
    services.challenger_add(version=v2)
    ModelVersion.objects.filter(pk=v2.pk).update(artifact=b"not a dill file")
    # When clients predict and learn, with and without ids
    answer = serving.predict(model="live", features=PROBE, id="a")
    learned = serving.learn(model="live", id="a", ground_truth=1.0)
    serving.learn(model="live", features=PROBE, ground_truth=1.0)
    # Then production answers and learns as if the challenger were not there
    assert (answer.version, learned.version) == (1, 1)
    assert serving.metrics(model="live")["n_learned"] == 2
