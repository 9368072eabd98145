"""Backtests: a version's artifact replayed prequentially over the learn log, with progress, cancel and failures."""

import copy
import itertools

import dill
import pytest
from river import datasets, evaluate, linear_model, metrics, preprocessing

import serving
from catalogue import services
from catalogue.errors import Conflict, InvalidInput
from catalogue.models import ModelVersion
from serving import backtests, observers
from serving.models import Backtest
from tests import factories

pytestmark = pytest.mark.django_db

PHISHING = list(itertools.islice(datasets.Phishing(), 300))
TRUMP = list(itertools.islice(datasets.TrumpApproval(), 300))


def classifier():
    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


def regressor(intercept: float = 0.0):
    return preprocessing.StandardScaler() | linear_model.LinearRegression(intercept_init=intercept)


def live_model(obj, *, flavor: str, name: str = "live"):
    model = factories.MLModelFactory(name=name, flavor=flavor)
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj))
    services.deployment_promote(version=version)
    return model, version


def stream(data, *, name: str = "live", with_ids: bool, start: int = 0) -> None:
    for i, (x, y) in enumerate(data, start=start):
        if with_ids:
            serving.predict(model=name, features=x, id=i)
            serving.learn(model=name, id=i, ground_truth=y)
        else:
            serving.learn(model=name, features=x, ground_truth=y)


def backtested(model, number: int, **kwargs) -> Backtest:
    """Start a backtest and run it here (the test's transaction is never committed, so nothing else runs it)."""
    backtest = backtests.backtest_start(model=model, version=number, **kwargs)
    assert backtests.run(backtest.pk) in Backtest.FINISHED
    backtest.refresh_from_db()
    return backtest


def assert_close(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("with_ids", [True, False], ids=["with ids", "without ids"])
@pytest.mark.parametrize(
    ("flavor", "make", "data"),
    [("binary", classifier, PHISHING), ("regression", regressor, TRUMP)],
    ids=["binary", "regression"],
)
def test_backtesting_the_version_that_served_every_event_reproduces_its_live_metrics(
    settings, flavor, make, data, with_ids
):
    # Given a version that served and learned every event of the log, read in several chunks
    settings.RHYTHMIC_BACKTEST_CHUNK = 64
    model, _ = live_model(make(), flavor=flavor)
    stream(data, with_ids=with_ids)
    live = serving.metrics(model="live")
    # When it is backtested over the whole log
    backtest = backtested(model, 1)
    # Then its replayed metrics, and the baseline of the logged predictions, are its live metrics
    assert backtest.status == Backtest.Status.SUCCEEDED, backtest.error
    assert (backtest.events_done, backtest.events_total, backtest.progress) == (300, 300, 1.0)
    assert (backtest.from_seq, backtest.to_seq) == (1, 300)
    assert_close(backtest.metrics["values"], live["metrics"])
    assert_close(backtest.baseline["values"], live["metrics"])
    assert backtest.metrics["n_scored"] == backtest.baseline["n_scored"] == live["n_scored"]
    assert backtest.metrics["n_learn_errors"] == 0


def test_a_range_is_river_progressive_validation_of_a_fresh_artifact_on_those_events(settings):
    # Given a log of 300 events served by v1, and a v2 that never served
    settings.RHYTHMIC_BACKTEST_CHUNK = 50
    model, _ = live_model(classifier(), flavor="binary")
    challenger = preprocessing.StandardScaler() | linear_model.LogisticRegression(l2=0.01)
    factories.ModelVersionFactory(model=model, artifact=dill.dumps(challenger))
    stream(PHISHING, with_ids=False)
    # When v2 is backtested over entries 101..250
    backtest = backtested(model, 2, from_seq=101, to_seq=250)
    # Then it scored what river's progressive validation of a fresh v2 scores on those events
    expected = metrics.Accuracy() + metrics.LogLoss() + metrics.Precision() + metrics.Recall() + metrics.F1()
    evaluate.progressive_val_score(PHISHING[100:250], copy.deepcopy(challenger), expected)
    assert backtest.status == Backtest.Status.SUCCEEDED, backtest.error
    assert (backtest.events_done, backtest.events_total) == (150, 150)
    assert_close(backtest.metrics["values"], {type(m).__name__: m.get() for m in expected})


def test_the_baseline_is_what_the_versions_that_served_the_events_scored():
    # Given events served by v1, then by v2 after a promotion
    model, _ = live_model(regressor(0.0), flavor="regression")
    v2 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(regressor(5.0)))
    stream(TRUMP[:100], with_ids=True)
    services.deployment_promote(version=v2)
    stream(TRUMP[100:200], with_ids=True, start=100)
    v1_live = serving.metrics(model="live", version=1)
    v2_live = serving.metrics(model="live", version=2)
    # When v2 is backtested over the first hundred events, and over everything
    first = backtested(model, 2, to_seq=100)
    everything = backtested(model, 2)
    # Then the first baseline is v1's live figures and the whole one folds both versions' logged predictions
    assert_close(first.baseline["values"], v1_live["metrics"])
    assert everything.baseline["n_scored"] == v1_live["n_scored"] + v2_live["n_scored"] == 200
    expected = metrics.MAE()
    for (_, y), (_, logged) in zip(TRUMP[:200], _logged(model), strict=True):
        expected.update(y, logged)
    assert everything.baseline["values"]["MAE"] == pytest.approx(expected.get(), rel=1e-9)
    # and v2 replayed from its artifact over all 200 differs from its live state, which saw only the last 100
    assert everything.metrics["values"] != v2_live["metrics"]


def _logged(model):
    from serving.codec import decode_prediction
    from serving.models import LearnEvent

    for seq, prediction in LearnEvent.objects.filter(model=model).order_by("seq").values_list("seq", "prediction"):
        yield seq, decode_prediction(prediction)


def test_a_cancel_stops_a_running_backtest_between_two_chunks(settings):
    # Given a log of 300 events read 50 at a time, and someone who cancels once the first chunk is reported
    settings.RHYTHMIC_BACKTEST_CHUNK = 50
    model, _ = live_model(regressor(), flavor="regression")
    stream(TRUMP, with_ids=False)
    backtest = backtests.backtest_start(model=model, version=1)

    def cancel_after_the_first_chunk(*, model, backtest):
        if backtest["status"] == "running" and backtest["events_done"] == 50:
            backtests.backtest_cancel(backtest=Backtest.objects.get(pk=backtest["id"]))

    observers.observe("backtest")(cancel_after_the_first_chunk)
    try:
        # When it runs
        status = backtests.run(backtest.pk)
    finally:
        observers._observers["backtest"].remove(cancel_after_the_first_chunk)
    # Then it stopped after that chunk, keeping what it had scored
    backtest.refresh_from_db()
    assert status == backtest.status == Backtest.Status.CANCELLED
    assert (backtest.events_done, backtest.events_total) == (50, 300)
    assert backtest.progress == pytest.approx(50 / 300)
    assert backtest.metrics["n_scored"] == 50
    assert backtest.finished_at is not None


def test_a_queued_backtest_is_cancelled_at_once_and_never_runs():
    model, _ = live_model(regressor(), flavor="regression")
    stream(TRUMP[:10], with_ids=False)
    backtest = backtests.backtest_start(model=model, version=1)
    cancelled = backtests.backtest_cancel(backtest=backtest)
    assert cancelled.status == Backtest.Status.CANCELLED
    assert backtests.run(backtest.pk) == Backtest.Status.CANCELLED
    cancelled.refresh_from_db()
    assert cancelled.events_done == 0 and cancelled.started_at is None


def test_a_finished_backtest_cannot_be_cancelled():
    model, _ = live_model(regressor(), flavor="regression")
    stream(TRUMP[:10], with_ids=False)
    backtest = backtested(model, 1)
    with pytest.raises(Conflict, match="has already succeeded"):
        backtests.backtest_cancel(backtest=backtest)


def test_a_predict_only_version_fails_with_the_reason():
    from sklearn.linear_model import LinearRegression

    # Given a log, and a predict-only scikit-learn version
    model, _ = live_model(regressor(), flavor="regression")
    stream(TRUMP[:10], with_ids=False)
    fitted = LinearRegression().fit([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0.0, 2.0, 1.0])
    factories.ModelVersionFactory(model=model, artifact=dill.dumps(fitted))
    # When it is backtested
    backtest = backtested(model, 2)
    # Then the backtest failed and says why
    assert backtest.status == Backtest.Status.FAILED
    assert "v2 is predict-only" in backtest.error
    assert backtest.finished_at is not None


class RaisesOnBigX:
    """An online regressor that cannot predict past x = 5."""

    def learn_one(self, x, y):
        pass

    def predict_one(self, x):
        if x["x"] > 5:
            raise ValueError("x is too big for me")
        return 0.0


def test_an_artifact_that_raises_fails_the_backtest_naming_the_entry(settings):
    settings.RHYTHMIC_BACKTEST_CHUNK = 4
    model, _ = live_model(regressor(), flavor="regression")
    for x in range(10):
        serving.learn(model="live", features={"x": float(x)}, ground_truth=1.0)
    factories.ModelVersionFactory(model=model, artifact=dill.dumps(RaisesOnBigX()))
    backtest = backtested(model, 2)
    assert backtest.status == Backtest.Status.FAILED
    assert backtest.error == "v2 could not predict on the features of learn #7: ValueError: x is too big for me"
    assert backtest.events_done == 4  # the first chunk was stored before the second failed


def test_progress_is_announced_to_observers_after_every_chunk(settings):
    settings.RHYTHMIC_BACKTEST_CHUNK = 100
    model, _ = live_model(regressor(), flavor="regression")
    stream(TRUMP, with_ids=False)
    seen = []

    def record(*, model, backtest):
        seen.append((model, backtest["status"], backtest["events_done"]))

    observers.observe("backtest")(record)
    try:
        backtested(model, 1)
    finally:
        observers._observers["backtest"].remove(record)
    assert seen == [
        ("live", "running", 0),
        ("live", "running", 0),  # events_total counted
        ("live", "running", 100),
        ("live", "running", 200),
        ("live", "running", 300),
        ("live", "succeeded", 300),
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"version": 9}, InvalidInput, "live has no version 9"),
        ({"version": "1"}, InvalidInput, "version must be a whole number, not '1'"),
        ({"version": True}, InvalidInput, "version must be a whole number"),
        ({"version": 1, "from_seq": -1}, InvalidInput, "from_seq must be at least 1, not -1"),
        ({"version": 1, "to_seq": 0}, InvalidInput, "to_seq must be at least 1, not 0"),
        ({"version": 1, "from_seq": 8, "to_seq": 3}, InvalidInput, r"from_seq \(8\) is after to_seq \(3\)"),
        ({"version": 1, "to_seq": 11}, InvalidInput, r"to_seq \(11\) is past the end of live's learn log \(#10\)"),
    ],
)
def test_a_start_with_bad_input_is_refused_with_what_to_fix(kwargs, error, message):
    model, _ = live_model(regressor(), flavor="regression")
    stream(TRUMP[:10], with_ids=False)
    with pytest.raises(error, match=message):
        backtests.backtest_start(model=model, **kwargs)
    assert not Backtest.objects.exists()


def test_a_model_with_an_empty_log_or_a_failed_version_cannot_be_backtested():
    model, _ = live_model(regressor(), flavor="regression")
    with pytest.raises(Conflict, match="learn log is empty"):
        backtests.backtest_start(model=model, version=1)
    stream(TRUMP[:3], with_ids=False)
    factories.ModelVersionFactory(model=model, status=ModelVersion.Status.FAILED)
    with pytest.raises(Conflict, match="v2 failed validation"):
        backtests.backtest_start(model=model, version=2)


@pytest.mark.django_db(transaction=True)
def test_in_the_embedded_default_a_started_backtest_runs_on_a_thread_of_its_own():
    # Given a log (committed: the backtest's thread has a connection of its own)
    model, _ = live_model(regressor(), flavor="regression")
    stream(TRUMP[:120], with_ids=False)
    live = serving.metrics(model="live")
    # When a backtest is started (no broker: tasks are eager)
    backtest = backtests.backtest_start(model=model, version=1)
    # Then start returned before the run finished it, on another thread, which reproduces the live metrics
    assert backtest.status == Backtest.Status.QUEUED
    done = backtests.wait(backtest.pk, timeout=60)
    assert done.status == Backtest.Status.SUCCEEDED, done.error
    assert_close(done.metrics["values"], live["metrics"])


def test_the_admin_shows_backtests_read_only(admin_client):
    model, _ = live_model(regressor(), flavor="regression")
    stream(TRUMP[:10], with_ids=False)
    backtest = backtested(model, 1)
    listing = admin_client.get("/admin/serving/backtest/")
    assert listing.status_code == 200
    assert "succeeded" in listing.content.decode()
    page = admin_client.get(f"/admin/serving/backtest/{backtest.pk}/change/").content.decode()
    assert 'name="_save"' not in page  # no form to change it
    assert admin_client.get("/admin/serving/backtest/add/").status_code == 403
    assert admin_client.post(f"/admin/serving/backtest/{backtest.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Backtest.objects.filter(pk=backtest.pk).exists()


def test_a_batch_was_answered_from_the_state_before_it_which_the_baseline_shows_and_the_replay_does_not():
    # Given 100 learns without ids sent as one batch: production predicted each on its state before the batch
    model, _ = live_model(regressor(), flavor="regression")
    serving.learn_many(model="live", items=[{"features": x, "ground_truth": y} for x, y in TRUMP[:100]])
    live = serving.metrics(model="live")
    # When the version that served them is backtested
    backtest = backtested(model, 1)
    # Then the baseline is its live figures, and the replay (each prediction after the entries before it) differs
    assert_close(backtest.baseline["values"], live["metrics"])
    assert backtest.metrics["values"]["MAE"] < live["metrics"]["MAE"]


# --- a runner that stopped ---------------------------------------------------------------------


def stale_running(model, *, seconds_ago: float, done: int = 40):
    """A backtest left running by a runner that was killed ``seconds_ago`` seconds ago, at event ``done``."""
    from datetime import timedelta

    from django.utils import timezone

    backtest = backtests.backtest_start(model=model, version=1)
    beat = timezone.now() - timedelta(seconds=seconds_ago)
    Backtest.objects.filter(pk=backtest.pk).update(
        status=Backtest.Status.RUNNING, started_at=beat, heartbeat_at=beat, events_done=done, events_total=300
    )
    return backtest


@pytest.fixture
def logged(settings):
    settings.RHYTHMIC_BACKTEST_STALE_SECONDS = 300
    model, _ = live_model(regressor(), flavor="regression")
    stream(TRUMP[:50], with_ids=False)
    return model


def test_a_running_backtest_whose_runner_stopped_is_failed_when_it_is_read(logged):
    # Given a backtest whose runner stopped ten minutes ago, and one whose runner beat a minute ago
    dead = stale_running(logged, seconds_ago=600)
    alive = stale_running(logged, seconds_ago=60)
    # When the backtest is read
    got = backtests.backtest_get(model=logged, backtest_id=dead.pk)
    # Then it is failed, saying where its runner stopped and what to do; the live one still runs
    assert got.status == Backtest.Status.FAILED
    assert got.error == "its runner stopped (process restarted?) at event 40 of 300; start it again"
    assert got.finished_at is not None
    assert backtests.backtest_get(model=logged, backtest_id=alive.pk).status == Backtest.Status.RUNNING


def test_the_periodic_sweep_fails_stale_backtests_and_tells_observers(logged):
    from serving.tasks import recover_backtests

    dead = stale_running(logged, seconds_ago=301)
    events = []

    def record(*, model, backtest):
        events.append(backtest)

    observers.observe("backtest")(record)
    try:
        assert recover_backtests() == 1
        assert recover_backtests() == 0
    finally:
        observers._observers["backtest"].remove(record)
    dead.refresh_from_db()
    assert dead.status == Backtest.Status.FAILED
    assert [(e["id"], e["status"]) for e in events] == [(dead.pk, "failed")]


def test_a_running_backtest_without_a_heartbeat_yet_is_judged_by_its_start(logged):
    dead = stale_running(logged, seconds_ago=900)
    Backtest.objects.filter(pk=dead.pk).update(heartbeat_at=None)
    assert backtests.backtest_recover_stale(model=logged) == 1


def test_cancelling_a_stale_backtest_finishes_it_at_once(logged):
    dead = stale_running(logged, seconds_ago=600)
    cancelled = backtests.backtest_cancel(backtest=dead)
    assert cancelled.status == Backtest.Status.CANCELLED
    assert cancelled.finished_at is not None


def test_a_runner_heartbeats_every_chunk_and_one_declared_stopped_cannot_bring_its_backtest_back(settings, logged):
    # Given a backtest read in chunks of 10, whose runner is declared stopped after its first chunk (say it
    # was only paused longer than the stale bound)
    settings.RHYTHMIC_BACKTEST_CHUNK = 10
    backtest = backtests.backtest_start(model=logged, version=1)
    beats = []

    def sweep_after_the_first_chunk(*, model, backtest):
        row = Backtest.objects.get(pk=backtest["id"])
        beats.append(row.heartbeat_at)
        if backtest["events_done"] == 10:
            from datetime import timedelta

            from django.utils import timezone

            assert backtests.backtest_recover_stale(now=timezone.now() + timedelta(seconds=301)) == 1

    observers.observe("backtest")(sweep_after_the_first_chunk)
    try:
        status = backtests.run(backtest.pk)
    finally:
        observers._observers["backtest"].remove(sweep_after_the_first_chunk)
    # Then the runner stopped there, and the backtest stays failed with what it had done
    backtest.refresh_from_db()
    assert status == backtest.status == Backtest.Status.FAILED
    assert backtest.events_done == 10
    assert "at event 10 of 50" in backtest.error
    assert all(beats) and beats == sorted(beats)


def test_waiting_for_a_backtest_whose_runner_stopped_returns_it_failed(logged):
    dead = stale_running(logged, seconds_ago=600)
    assert backtests.wait(dead.pk, timeout=5).status == Backtest.Status.FAILED
