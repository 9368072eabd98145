"""The lifecycle features together: rewinding a challenger or the canary (which learn entries they did not answer),
promoting a rewound one, pruning the log beside them; every process (one that held the state, another, a fresh
one) serves what river trained on the version's clean stream serves."""

import contextlib
import copy
import itertools

import dill
import pytest
from river import datasets, linear_model, metrics, optim, preprocessing

import serving
from catalogue import services
from serving import retention
from serving.models import LearnEvent
from serving.process import ServingProcess, acting_as, current
from serving.rewind import version_rewind, version_rewind_preview
from tests import factories

pytestmark = pytest.mark.django_db

CLEAN = list(itertools.islice(datasets.TrumpApproval(), 80))
PROBES = [x for x, _ in CLEAN[:4]]
ADDED_AT = 5  # the challenger joins after this many entries: its stream starts at seq 6
N_CLEAN = 30  # seqs 1-30 are clean
N_POISON = 10  # seqs 31-40 are poisoned


def production_model():
    return preprocessing.StandardScaler() | linear_model.LinearRegression()


def challenger_model():
    return preprocessing.MaxAbsScaler() | linear_model.LinearRegression(l2=0.01)


def third_model():
    return preprocessing.StandardScaler() | linear_model.LinearRegression(optimizer=optim.SGD(0.05))


def poisoned(events):
    return [(x, y * 50 + 10_000) for x, y in events]


EVENTS = CLEAN[:N_CLEAN] + poisoned(CLEAN[N_CLEAN : N_CLEAN + N_POISON])


@pytest.fixture
def together(settings):
    """A model "live": v1 in production, v2 and v3 ready; checkpoints every 4 entries, some after the poison."""
    settings.RHYTHMIC_CHECKPOINT_EVERY = 4
    model = factories.MLModelFactory(name="live")
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(production_model()))
    v2 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(challenger_model()))
    v3 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(third_model()))
    services.deployment_promote(version=v1)
    return model, v1, v2, v3


def with_ids(events, start=0):
    for i, (x, y) in enumerate(events, start):
        serving.predict(model="live", features=x, id=f"e{i}")
        serving.learn(model="live", id=f"e{i}", ground_truth=y)


def without_ids(events, start=0):
    for x, y in events:
        serving.learn(model="live", features=x, ground_truth=y)


FEEDS = pytest.mark.parametrize("feed", [with_ids, without_ids], ids=["with ids", "without ids"])


def progressive(model, events, *, skipped=()):
    """River alone: predict, score, learn over ``events`` (numbered from 1); a seq in ``skipped`` is neither
    scored nor learned. Returns the trained model and its metrics."""
    model, scores = copy.deepcopy(model), [metrics.MAE(), metrics.RMSE(), metrics.SMAPE()]
    for seq, (x, y) in enumerate(events, start=1):
        if seq in skipped:
            continue
        prediction = model.predict_one(x)
        for score in scores:
            score.update(y, prediction)
        model.learn_one(x, y)
    return model, {type(score).__name__: score.get() for score in scores}


def state(number):
    """(predictions on the probes, metrics, n_learned) of version ``number`` in the current process."""
    entry = current().replicas.entry("live")
    with entry.lock:
        replica = entry.replica(entry_version_id(number))
        predictions = [replica.servable.predict(x) for x in PROBES]
    served = serving.metrics(model="live", version=number)
    return predictions, served["metrics"], served["n_learned"]


def entry_version_id(number):
    from catalogue.models import ModelVersion

    return ModelVersion.objects.get(model__name="live", number=number).pk


def assert_state(number, expected_model, expected_metrics, n_learned):
    predictions, served, learned = state(number)
    assert predictions == pytest.approx([expected_model.predict_one(x) for x in PROBES], rel=1e-9, abs=1e-9)
    assert served == pytest.approx(expected_metrics, rel=1e-9, abs=1e-9)
    assert learned == n_learned


def everywhere(*processes):
    """This process, the others given, and a freshly started one."""
    return [current(), *processes, ServingProcess()]


def feed_with_challenger(feed, challenger, *, other=None):
    """The first entries with production alone, then the challenger beside it; ``other`` loads both midway."""
    feed(EVENTS[:ADDED_AT])
    services.challenger_add(version=challenger)
    feed(EVENTS[ADDED_AT:20], start=ADDED_AT)
    if other is not None:
        with acting_as(other):
            serving.predict(model="live", features=PROBES[0])
            state(challenger.number)
    feed(EVENTS[20:], start=20)


# --- rewinding a challenger -----------------------------------------------------------------------


@FEEDS
def test_a_challenger_rewound_to_a_seq_equals_river_on_its_clean_stream_in_every_process(together, feed):
    model, _, v2, _ = together
    other = ServingProcess()
    feed_with_challenger(feed, v2, other=other)
    production_before = serving.metrics(model="live", version=1)
    # When the challenger is rewound to the last clean entry
    rewind = version_rewind(model=model, version=v2, to_seq=N_CLEAN)
    # Then it undid the poisoned entries it learned beside production
    assert rewind.n_undone == N_POISON
    stream = EVENTS[ADDED_AT:N_CLEAN]
    expected = progressive(challenger_model(), stream)
    for process in everywhere(other):
        with acting_as(process):
            assert_state(2, *expected, n_learned=len(stream))
            # And production, which was not rewound, still has everything it learned
            assert serving.metrics(model="live", version=1) == {**production_before, "state_seq": 40}
    # And learning goes on from the rewound state, in every process
    more = CLEAN[N_CLEAN + N_POISON :]
    feed(more, start=100)
    skipped = set(range(N_CLEAN - ADDED_AT + 1, N_CLEAN - ADDED_AT + N_POISON + 1))
    expected = progressive(challenger_model(), EVENTS[ADDED_AT:] + more, skipped=skipped)
    for process in everywhere(other):
        with acting_as(process):
            assert_state(2, *expected, n_learned=len(stream) + len(more))


@FEEDS
def test_a_challenger_without_skipped_entries_equals_river_trained_without_them(together, feed):
    model, _, v2, _ = together
    other = ServingProcess()
    feed_with_challenger(feed, v2, other=other)
    # When three of the challenger's poisoned entries, and one clean one it learned, are skipped
    skip = [10, 31, 32, 35]
    version_rewind(model=model, version=v2, skip=skip)
    # Then its model is river's trained on its stream without them; its metrics score the predictions it made at
    # the time (trained on everything before, the skipped entries too), less those of the skipped entries
    stream = EVENTS[ADDED_AT:]
    local = {seq - ADDED_AT for seq in skip}
    clean_model, _ = progressive(challenger_model(), stream, skipped=local)
    served_by, scores = challenger_model(), [metrics.MAE(), metrics.RMSE(), metrics.SMAPE()]
    for seq, (x, y) in enumerate(stream, start=1):
        if seq not in local:
            for score in scores:
                score.update(y, served_by.predict_one(x))
        served_by.learn_one(x, y)
    expected_metrics = {type(s).__name__: s.get() for s in scores}
    for process in everywhere(other):
        with acting_as(process):
            assert_state(2, clean_model, expected_metrics, n_learned=len(stream) - len(skip))


def test_a_challengers_preview_is_what_the_rewind_then_serves(together):
    model, _, v2, _ = together
    feed_with_challenger(with_ids, v2)
    preview = version_rewind_preview(model=model, version=v2, to_seq=N_CLEAN)
    assert preview["n_undone"] == N_POISON
    version_rewind(model=model, version=v2, to_seq=N_CLEAN)
    served = serving.metrics(model="live", version=2)
    assert preview["after"]["metrics"] == served["metrics"]
    assert preview["after"]["n_learned"] == served["n_learned"] == N_CLEAN - ADDED_AT


@pytest.mark.parametrize("where", ["same process", "another process", "restarted process"])
def test_promoting_a_rewound_challenger_keeps_the_rewound_state(together, where):
    model, _, v2, _ = together
    other = ServingProcess()
    feed_with_challenger(with_ids, v2, other=other)
    version_rewind(model=model, version=v2, to_seq=N_CLEAN)
    # When the rewound challenger is promoted
    services.deployment_promote(version=v2)
    if where == "restarted process":
        current().reset()
    expected_model, expected_metrics = progressive(challenger_model(), EVENTS[ADDED_AT:N_CLEAN])
    with acting_as(other) if where == "another process" else contextlib.nullcontext():
        # Then it answers with the rewound state
        answer = serving.predict(model="live", features=PROBES[0])
        assert answer.version == 2
        assert answer.prediction == pytest.approx(expected_model.predict_one(PROBES[0]), rel=1e-9, abs=1e-9)
        assert serving.metrics(model="live")["metrics"] == pytest.approx(expected_metrics, rel=1e-9, abs=1e-9)
        # And it goes on learning from it, as production
        more = CLEAN[N_CLEAN + N_POISON :]
        with_ids(more, start=100)
        skipped = set(range(N_CLEAN - ADDED_AT + 1, N_CLEAN - ADDED_AT + N_POISON + 1))
        expected = progressive(challenger_model(), EVENTS[ADDED_AT:] + more, skipped=skipped)
    for process in everywhere(other):
        with acting_as(process):
            assert_state(2, *expected, n_learned=N_CLEAN - ADDED_AT + len(more))


def test_rewinding_production_leaves_its_challengers_states_alone(together):
    model, v1, v2, _ = together
    other = ServingProcess()
    feed_with_challenger(with_ids, v2, other=other)
    challenger_before = state(2)
    version_rewind(model=model, version=v1, to_seq=N_CLEAN)
    for process in everywhere(other):
        with acting_as(process):
            assert_state(1, *progressive(production_model(), EVENTS[:N_CLEAN]), n_learned=N_CLEAN)
            assert state(2) == challenger_before


# --- the canary -------------------------------------------------------------------------------------


def test_a_rewound_canary_equals_river_on_every_event_it_learned_and_keeps_it_when_promoted(together):
    model, _, v2, _ = together
    other = ServingProcess()
    # Given a canary that answered half of the ids (a learn by id goes to it), production the other half
    services.canary_set(version=v2, percent=50)
    with_ids(EVENTS[:20])
    with acting_as(other):
        state(2)
    with_ids(EVENTS[20:], start=20)
    answered = set(LearnEvent.objects.values_list("version__number", flat=True))
    assert answered == {1, 2}
    # When the canary is rewound to the last clean entry
    rewind = version_rewind(model=model, version=v2, to_seq=N_CLEAN)
    assert rewind.n_undone == N_POISON
    # Then it is river trained on the clean entries (those it answered and those production answered)
    expected = progressive(challenger_model(), EVENTS[:N_CLEAN])
    for process in everywhere(other):
        with acting_as(process):
            assert_state(2, *expected, n_learned=N_CLEAN)
            assert_state(1, *progressive(production_model(), EVENTS), n_learned=len(EVENTS))
    # And once promoted it answers every id from the rewound state, and learns on from it
    services.deployment_promote(version=v2)
    more = CLEAN[N_CLEAN + N_POISON :]
    with_ids(more, start=100)
    skipped = set(range(N_CLEAN + 1, N_CLEAN + N_POISON + 1))
    expected = progressive(challenger_model(), EVENTS + more, skipped=skipped)
    for process in everywhere(other):
        with acting_as(process):
            assert serving.predict(model="live", features=PROBES[0], id="again").version == 2
            assert_state(2, *expected, n_learned=N_CLEAN + len(more))


def test_skipping_entries_the_canary_answered_and_entries_it_learned_beside_production(together):
    model, _, v2, _ = together
    services.canary_set(version=v2, percent=50)
    with_ids(EVENTS[:N_CLEAN])
    by = dict(LearnEvent.objects.values_list("seq", "version__number"))
    skip = [next(s for s in sorted(by) if by[s] == 2), next(s for s in sorted(by) if by[s] == 1)]
    version_rewind(model=model, version=v2, skip=skip)
    clean_model, _ = progressive(challenger_model(), EVENTS[:N_CLEAN], skipped=set(skip))
    for process in everywhere():
        with acting_as(process):
            predictions, _, n_learned = state(2)
            assert predictions == pytest.approx([clean_model.predict_one(x) for x in PROBES], rel=1e-9, abs=1e-9)
            assert n_learned == N_CLEAN - 2


# --- retention beside challengers and rewinds -------------------------------------------------------


@pytest.mark.parametrize("rewound", [2, 1], ids=["challenger rewound", "production rewound"])
def test_a_fresh_process_after_a_prune_serves_the_same_states_and_metrics(together, settings, rewound):
    model, v1, v2, v3 = together
    other = ServingProcess()
    # Given two challengers (one removed midway), a rewind, and learns after it
    services.challenger_add(version=v3)
    feed_with_challenger(with_ids, v2, other=other)
    services.challenger_remove(version=v3)
    version_rewind(model=model, version=v1 if rewound == 1 else v2, to_seq=N_CLEAN)
    without_ids(CLEAN[N_CLEAN + N_POISON : 60])
    before = {n: state(n) for n in (1, 2, 3)}
    # When the log is pruned down to its last entry
    settings.RHYTHMIC_LOG_RETENTION_DAYS = 0
    settings.RHYTHMIC_LOG_RETENTION_ENTRIES = 1
    assert retention.log_prune() > 0
    # Then every process, a fresh one too, serves the same states and metrics
    for process in everywhere(other):
        with acting_as(process):
            assert {n: state(n) for n in (1, 2, 3)} == before
    # And they keep learning alike
    without_ids(CLEAN[60:])
    with acting_as(other):
        after = {n: state(n) for n in (1, 2)}
    with acting_as(ServingProcess()):
        assert {n: state(n) for n in (1, 2)} == after
    assert {n: state(n) for n in (1, 2)} == after


# --- backtests beside the canary and challengers ----------------------------------------------------


def backtested(model, number, **kwargs):
    from serving import backtests
    from serving.models import Backtest

    backtest = backtests.backtest_start(model=model, version=number, **kwargs)
    assert backtests.run(backtest.pk) == Backtest.Status.SUCCEEDED
    backtest.refresh_from_db()
    return backtest


def test_backtests_after_a_canary_reproduce_each_versions_live_metrics_beside_the_answers_clients_got(
    together, settings
):
    settings.RHYTHMIC_BACKTEST_CHUNK = 16
    model, _, v2, _ = together
    # Given a canary that answered about half of the ids, production the rest (both learned every event)
    services.canary_set(version=v2, percent=50)
    stream = CLEAN[:60]
    with_ids(stream)
    answered_by = dict(LearnEvent.objects.values_list("seq", "version__number"))
    assert set(answered_by.values()) == {1, 2}
    # When production and the canary are backtested over the whole log
    for number, make in [(1, production_model), (2, challenger_model)]:
        backtest = backtested(model, number)
        # Then each replay reproduces that version's live metrics (it predicted every event before learning it)
        live = serving.metrics(model="live", version=number)
        assert backtest.metrics["values"] == pytest.approx(live["metrics"], rel=1e-9, abs=1e-9)
        assert backtest.metrics["values"] == pytest.approx(progressive(make(), stream)[1], rel=1e-9, abs=1e-9)
        # And the baseline scores what the clients got: each event's answering version's prediction
        models = {1: production_model(), 2: challenger_model()}
        scores = [metrics.MAE(), metrics.RMSE(), metrics.SMAPE()]
        for seq, (x, y) in enumerate(stream, start=1):
            answer = models[answered_by[seq]].predict_one(x)
            for score in scores:
                score.update(y, answer)
            for m in models.values():
                m.learn_one(x, y)
        expected = {type(s).__name__: s.get() for s in scores}
        assert backtest.baseline["values"] == pytest.approx(expected, rel=1e-9, abs=1e-9)
        assert backtest.baseline["n_scored"] == len(stream)


def test_backtesting_a_challenger_from_where_it_joined_reproduces_its_live_metrics(together):
    model, _, v2, _ = together
    feed_with_challenger(with_ids, v2)
    backtest = backtested(model, 2, from_seq=ADDED_AT + 1)
    live = serving.metrics(model="live", version=2)
    assert backtest.metrics["values"] == pytest.approx(live["metrics"], rel=1e-9, abs=1e-9)
    # and its baseline is production's answers, production's live metrics over those events
    assert backtest.baseline["values"] == pytest.approx(
        progressive_served(production_model(), EVENTS, first=ADDED_AT + 1), rel=1e-9, abs=1e-9
    )


def progressive_served(model, events, *, first):
    """The metrics of ``model``'s answers to events ``first``.. (it learned every event from the first)."""
    model, scores = copy.deepcopy(model), [metrics.MAE(), metrics.RMSE(), metrics.SMAPE()]
    for seq, (x, y) in enumerate(events, start=1):
        if seq >= first:
            prediction = model.predict_one(x)
            for score in scores:
                score.update(y, prediction)
        model.learn_one(x, y)
    return {type(score).__name__: score.get() for score in scores}


# --- policies beside rewinds ------------------------------------------------------------------------


def test_a_policy_does_not_roll_back_a_production_whose_poisoned_entries_were_rewound(together):
    from catalogue.models import MLModel
    from monitoring import policies

    model, _, v2, _ = together
    services.deployment_promote(version=v2)  # so that a rollback would go back to v1
    policies.policy_set(model=model, body={"auto_rollback": {"window": 20, "max_degradation": 0.5}})
    # Given 40 clean entries, then 20 whose labels are poisoned
    without_ids(CLEAN[:40] + poisoned(CLEAN[40:60]))
    # When the poisoned entries are put aside before the policy is evaluated
    version_rewind(model=model, version=v2, to_seq=40)
    # Then its windows hold the entries v2 learned (as its metrics do), not the undone ones: no rollback
    assert policies.evaluate(model_id=model.pk) == "hold"
    assert MLModel.objects.get(pk=model.pk).production_version_id == v2.pk


def test_a_drift_on_entries_a_rewind_put_aside_does_not_roll_back(together, settings):
    from monitoring import policies
    from monitoring import services as monitoring_services

    settings.RHYTHMIC_POLICY_EVAL_LEARNS = 10**9
    model, _, v2, _ = together
    without_ids(CLEAN[:30])  # v1 learns well: the version a rollback would go back to
    services.deployment_promote(version=v2)
    policies.policy_set(model=model, body={"auto_rollback": {"window": 10, "max_degradation": 1000}})
    without_ids(CLEAN[30:45] + poisoned(CLEAN[45:50]))
    monitoring_services.drift_point_record(model_id=model.pk, version_id=v2.pk, seq=48, n_drifts=1)
    version_rewind(model=model, version=v2, skip=[46, 47, 48, 49, 50])
    assert policies.evaluate(model_id=model.pk) == "hold"


def test_a_process_catching_up_while_the_log_is_pruned_never_misses_a_challengers_entries(together, settings):
    from django.db import connection

    settings.RHYTHMIC_CHECKPOINT_EVERY = 10_000
    _, _, v2, _ = together
    # Given v1 in production and v2 as its challenger (the prune meets the newer version first)
    services.challenger_add(version=v2)
    without_ids(CLEAN[:20])
    behind = ServingProcess()
    with acting_as(behind):  # another process, which loads both at #20 and then falls behind
        before = {n: state(n) for n in (1, 2)}
    without_ids(CLEAN[20:60])
    expected = {n: state(n) for n in (1, 2)}
    assert before != expected
    # When that process catches up in the middle of a prune, right after a delete of shadow rows
    settings.RHYTHMIC_LOG_RETENTION_DAYS = 0
    settings.RHYTHMIC_LOG_RETENTION_ENTRIES = 20
    caught_up = []

    def catch_up_after_shadow_deletes(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith("DELETE") and "serving_shadowprediction" in sql and not caught_up:
            with acting_as(behind):
                caught_up.append({n: state(n) for n in (1, 2)})
        return result

    with connection.execute_wrapper(catch_up_after_shadow_deletes):
        assert retention.log_prune() > 0
    # Then it has every entry its challenger learned: the same states as the process that applied them all
    assert caught_up == [expected]
    with acting_as(behind):
        assert {n: state(n) for n in (1, 2)} == expected


def test_a_challenger_removed_then_added_again_and_rewound_agrees_in_every_process(together):
    model, _, v2, _ = together
    other = ServingProcess()
    services.challenger_add(version=v2)
    with_ids(EVENTS[:15])
    services.challenger_remove(version=v2)
    with_ids(EVENTS[15:25], start=15)  # learned by production only
    services.challenger_add(version=v2)
    with_ids(EVENTS[25:], start=25)
    with acting_as(other):
        state(2)
    version_rewind(model=model, version=v2, to_seq=N_CLEAN)
    stream = EVENTS[:15] + EVENTS[25:N_CLEAN]
    for process in everywhere(other):
        with acting_as(process):
            assert_state(2, *progressive(challenger_model(), stream), n_learned=len(stream))


def test_a_learn_by_id_after_the_canary_ended_goes_to_it_alike_in_every_process(together):
    _, _, v2, _ = together
    other = ServingProcess()
    services.canary_set(version=v2, percent=100)
    serving.predict(model="live", features=CLEAN[0][0], id="late")
    with_ids(CLEAN[1:10], start=1)
    services.canary_end(model=together[0])
    with acting_as(other):  # learns the id the canary answered, after the canary ended
        assert serving.learn(model="live", id="late", ground_truth=CLEAN[0][1]).version == 2
    for process in everywhere(other):
        with acting_as(process):
            assert state(2)[2] == 10
            assert serving.metrics(model="live", version=1)["n_learned"] == 10
    with acting_as(other):
        expected = {n: state(n) for n in (1, 2)}
    assert {n: state(n) for n in (1, 2)} == expected
