"""One learn never takes a model down: numbers no float holds are refused before the log, and applying a log
entry is total (whatever the metrics or the model raise is counted once, never raised again on replay)."""

import math

import dill
import pytest
from river import linear_model, metrics, preprocessing

import serving
from catalogue import services
from catalogue.errors import InvalidInput
from catalogue.flavors import get_flavor
from catalogue.models import MLModel
from serving.models import Checkpoint, LearnEvent, PendingPrediction
from serving.online_metrics import OnlineMetrics
from serving.process import current
from serving.replicas import Replicas
from tests import factories

pytestmark = pytest.mark.django_db

HUGE_INT = 10**400  # what json.loads gives for a 401-digit integer


def live_model(obj=None, *, flavor="regression", name="live"):
    model = factories.MLModelFactory(name=name, flavor=flavor)
    obj = obj if obj is not None else preprocessing.StandardScaler() | linear_model.LinearRegression()
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj))
    services.deployment_promote(version=version)
    return model, version


def restart() -> None:
    """A freshly started process: no replica in memory, everything is loaded again from the database."""
    current().forget()


# --- refused before the log ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, HUGE_INT, -HUGE_INT])
def test_learn_refuses_a_ground_truth_no_float_holds_naming_the_field(bad):
    live_model()
    with pytest.raises(InvalidInput) as error:
        serving.learn(model="live", features={"x0": 1.0}, ground_truth=bad)
    assert error.value.field == "ground_truth"
    assert not LearnEvent.objects.exists()


@pytest.mark.parametrize(
    ("features", "field"),
    [
        ({"x0": math.inf}, "features.x0"),
        ({"x0": 1.0, "x1": math.nan}, "features.x1"),
        ({"x0": HUGE_INT}, "features.x0"),
        ({"xs": [1.0, 2.0, -math.inf]}, "features.xs[2]"),
        ({"a": {"b": [{"c": HUGE_INT}]}}, "features.a.b[0].c"),
    ],
)
def test_learn_and_predict_refuse_features_no_float_holds_naming_the_field(features, field):
    live_model()
    with pytest.raises(InvalidInput) as learning:
        serving.learn(model="live", features=features, ground_truth=1.0)
    with pytest.raises(InvalidInput) as predicting:
        serving.predict(model="live", features=features, id="p")
    assert learning.value.field == predicting.value.field == field
    assert not LearnEvent.objects.exists()
    assert not PendingPrediction.objects.exists()


def test_the_refusal_says_what_is_wrong_with_the_number():
    live_model()
    with pytest.raises(InvalidInput, match="ground_truth is an integer of 1329 bits, out of the range of a float"):
        serving.learn(model="live", features={"x0": 1.0}, ground_truth=HUGE_INT)
    with pytest.raises(InvalidInput, match=r"features.x0 must be a finite number, not inf"):
        serving.predict(model="live", features={"x0": math.inf})


def test_a_multiclass_label_no_float_holds_is_refused_too():
    live_model(linear_model.SoftmaxRegression(), flavor="multiclass")
    with pytest.raises(InvalidInput) as error:
        serving.learn(model="live", features={"x0": 1.0}, ground_truth=HUGE_INT)
    assert error.value.field == "ground_truth"


def test_batches_refuse_the_bad_item_alone_naming_its_field():
    live_model()
    results = serving.learn_many(
        model="live",
        items=[
            {"features": {"x0": 1.0}, "ground_truth": HUGE_INT},
            {"features": {"x0": math.nan}, "ground_truth": 1.0},
            {"features": {"x0": 1.0}, "ground_truth": 2.0},
        ],
    )
    assert [r.get("error", {}).get("field") for r in results] == ["ground_truth", "features.x0", None]
    assert LearnEvent.objects.count() == 1
    predicted = serving.predict_many(model="live", items=[{"features": {"x0": [math.inf]}}, {"features": {"x0": 1}}])
    assert predicted[0]["error"]["field"] == "features.x0[0]"
    assert "prediction" in predicted[1]


def test_the_integer_limit_is_exactly_where_float_overflows():
    live_model()
    largest = 2**1024 - 2**970 - 1  # float() rounds it down to the largest float
    assert float(largest) == 1.7976931348623157e308
    assert serving.learn(model="live", features={"x0": 1.0, "big": largest}, ground_truth=1.0).seq == 1
    with pytest.raises(InvalidInput) as error:
        serving.learn(model="live", features={"x0": 1.0, "big": largest + 1}, ground_truth=1.0)
    assert error.value.field == "features.big"
    with pytest.raises(OverflowError):
        float(largest + 1)


def test_strings_booleans_and_ordinary_numbers_pass_untouched():
    live_model()
    features = {"x0": 1e308, "x1": -(10**300), "x2": True, "city": "Paris", "tags": ["a", 1, None]}
    assert serving.learn(model="live", features=features, ground_truth=1.0).features == features


# --- applying a log entry is total ---------------------------------------------------------------


def test_a_ground_truth_of_1e200_is_learned_and_the_model_keeps_serving():
    # Given a model that learned a ground truth whose squared error overflows (RMSE raised OverflowError)
    live_model()
    serving.learn(model="live", features={"x0": 1.0}, ground_truth=1e200)
    # Then it still predicts and reports its metrics, here and in a fresh process
    for _ in ("same process", "fresh process"):
        assert math.isfinite(serving.predict(model="live", features={"x0": 1.0}).prediction)
        found = serving.metrics(model="live")
        assert (found["n_learned"], found["n_scored"], found["n_not_scored"]) == (1, 0, 1)
        assert found["metrics"] == {"MAE": 0.0, "RMSE": 0.0, "SMAPE": 0.0}
        restart()


def test_features_of_1e308_are_learned_and_the_model_keeps_answering_its_metrics():
    # Given a model that learns features of 1e308 (its state turns non-finite)
    live_model()
    serving.learn(model="live", features={"x0": 1e308}, ground_truth=1.0)
    serving.learn(model="live", features={"x0": -1e308}, ground_truth=1.0)
    for _ in ("same process", "fresh process"):
        # Then metrics answer, and a prediction is a clear client error, not a server error
        assert serving.metrics(model="live")["n_learned"] == 2
        with pytest.raises(InvalidInput, match="non-finite"):
            serving.predict(model="live", features={"x0": 1.0})
        restart()


def test_the_metrics_leave_out_exactly_the_entries_that_overflow():
    # Given a stream with overflowing ground truths among ordinary ones
    live_model(linear_model.LinearRegression())
    truths = [1.0, 1e200, 2.0, -1e300, 3.0]
    mae = metrics.MAE()
    for truth in truths:
        learned = serving.learn(model="live", features={"x0": 1.0}, ground_truth=truth)
        if abs(truth) < 1e100:
            mae.update(truth, learned.prediction)
    # Then the skipped ones are counted once, and MAE is river's MAE over the others
    for _ in ("same process", "fresh process"):
        found = serving.metrics(model="live")
        assert (found["n_scored"], found["n_not_scored"]) == (3, 2)
        assert found["metrics"]["MAE"] == pytest.approx(mae.get())
        restart()


def test_a_learn_the_model_raises_on_is_counted_once_and_never_raised(monkeypatch):
    # Given a model whose learn raises on one entry
    live_model()
    serving.learn(model="live", features={"x0": 1.0}, ground_truth=1.0)
    entry = current().replicas.entry("live")
    servable = entry.production().servable
    original = servable.learn

    def learn(features, ground_truth):
        if ground_truth == 13.0:
            raise ValueError("unlucky")
        original(features, ground_truth)

    monkeypatch.setattr(servable, "learn", learn)
    serving.learn(model="live", features={"x0": 1.0}, ground_truth=13.0)
    serving.learn(model="live", features={"x0": 1.0}, ground_truth=2.0)
    # Then it is counted once and the replica went on applying the log
    found = serving.metrics(model="live")
    assert (found["n_learned"], found["n_learn_errors"], found["state_seq"]) == (3, 1, 3)


@pytest.mark.parametrize(
    ("ground_truth", "prediction"),
    [(1e200, {"value": 0.0}), (1.0, {"value": 1e300}), (1.0, {"value": "ten"}), (1.0, {"proba": [[1, None]]})],
)
def test_a_database_already_holding_a_poisoning_entry_serves_again(ground_truth, prediction):
    # Given a log written by an older release: the entry is in it, the process that wrote it answered 500
    model, version = live_model()
    MLModel.objects.filter(pk=model.pk).update(learn_seq=2)
    LearnEvent.objects.create(
        model=model, seq=1, version=version, features={"x0": 1.0}, ground_truth=ground_truth, prediction=prediction
    )
    LearnEvent.objects.create(
        model=model, seq=2, version=version, features={"x0": 2.0}, ground_truth=3.0, prediction={"value": 0.0}
    )
    # When a process starts and catches up, then learns on
    for _ in ("first start", "restart"):
        restart()
        assert math.isfinite(serving.predict(model="live", features={"x0": 1.0}).prediction)
        found = serving.metrics(model="live")
        assert (found["n_learned"], found["n_scored"], found["n_not_scored"]) == (2, 1, 1)
    assert serving.learn(model="live", features={"x0": 1.0}, ground_truth=1.0).seq == 3


def replica_state(on: Replicas) -> tuple:
    entry = on.entry("live")
    with entry.lock:
        replica = entry.production()
        folded = replica.metrics
        return (
            entry.applied_seq,
            replica.n_learned,
            (folded.n_folded, folded.n_skipped, folded.n_learn_errors),
            folded.values(),
            dill.dumps(replica.servable.obj),
        )


def test_replicas_applying_a_poisoned_log_agree(settings):
    # Given one process learns a stream with poisoning entries, checkpointing every 3 entries
    settings.RHYTHMIC_CHECKPOINT_EVERY = 3
    live_model()
    for step, truth in enumerate([1.0, 1e200, 2.0, 1e300, 5.0, -1e250, 4.0]):
        serving.learn(model="live", features={"x0": float(step)}, ground_truth=truth)
    settings.RHYTHMIC_CHECKPOINT_EVERY = 10_000
    # When a second process starts from the latest checkpoint, and a third replays the whole log
    learner = replica_state(current().replicas)
    from_checkpoint = replica_state(Replicas())
    Checkpoint.objects.all().delete()
    from_scratch = replica_state(Replicas())
    # Then all three reached the same state, each entry counted once
    assert learner == from_checkpoint == from_scratch
    assert learner[:3] == (7, 7, (4, 3, 0))


# --- the metrics fold: all or nothing ------------------------------------------------------------


class Raising:
    """A metric that raises on update, as a river metric could on an input its maths cannot take."""

    requires_labels = False

    def update(self, y_true, y_pred):
        raise ZeroDivisionError("boom")

    def get(self):
        return 0.0


def test_a_metric_raising_half_way_leaves_every_metric_as_before():
    # Given metrics that folded one prediction, then one whose second metric raises
    folded = OnlineMetrics(get_flavor("regression"))
    folded.fold(3.0, 1.0)
    before = folded.values()
    folded.metrics.insert(1, Raising())
    # When the next prediction is folded
    assert folded.fold(10.0, 2.0, seq=2) is False
    # Then the metric updated before it was reverted, and the fold counted as skipped
    del folded.metrics[1]
    assert folded.values() == pytest.approx(before)
    assert (folded.n_folded, folded.n_skipped) == (1, 1)


def test_a_metric_turning_non_finite_is_reverted_like_a_raise():
    class Infinite(Raising):
        def update(self, y_true, y_pred):
            self.value = math.inf

        def revert(self, y_true, y_pred):
            self.value = 0.0

        def get(self):
            return getattr(self, "value", 0.0)

    folded = OnlineMetrics(get_flavor("regression"))
    folded.metrics.append(Infinite())
    assert folded.fold(10.0, 2.0) is False
    assert folded.values()["Infinite"] == 0.0
    assert folded.values()["MAE"] == 0.0
    assert folded.n_skipped == 1


def test_a_revert_that_raises_too_still_counts_one_skip():
    class Unrevertable(Raising):
        def update(self, y_true, y_pred):
            pass

        def revert(self, y_true, y_pred):
            raise RuntimeError("no revert")

    folded = OnlineMetrics(get_flavor("regression"))
    folded.metrics = [Unrevertable(), Raising()]
    assert folded.fold(10.0, 2.0) is False
    assert (folded.n_folded, folded.n_skipped) == (0, 1)


def test_a_classifier_s_non_finite_probability_is_left_out():
    folded = OnlineMetrics(get_flavor("binary"))
    assert folded.fold(True, {True: math.nan, False: 0.5}) is False
    assert folded.fold(True, True) is False  # a label (predict_one): folded
    assert (folded.n_folded, folded.n_skipped) == (1, 1)


def test_metrics_checkpointed_before_the_counters_existed_load_with_zero():
    folded = OnlineMetrics(get_flavor("regression"))
    for name in ("n_skipped", "n_learn_errors", "n_detector_errors"):
        folded.__dict__.pop(name, None)
    loaded = dill.loads(dill.dumps(folded))
    assert (loaded.n_skipped, loaded.n_learn_errors, loaded.n_detector_errors) == (0, 0, 0)


def test_probabilities_that_do_not_compare_are_left_out_without_raising():
    folded = OnlineMetrics(get_flavor("multiclass"))
    assert folded.fold("a", {"a": None, "b": 0.5}) is False
    assert (folded.n_folded, folded.n_skipped) == (0, 1)


@pytest.mark.parametrize(
    "ground_truth, prediction",
    [(1.0, math.nan), (1.0, math.inf), (math.inf, 1.0), (-math.inf, -math.inf), (1e200, -1e200), (1e160, 0.0)],
)
def test_a_regression_pair_of_floats_with_no_finite_squared_error_is_left_out(ground_truth, prediction):
    # Given regression metrics that folded one ordinary pair
    folded = OnlineMetrics(get_flavor("regression"))
    folded.fold(3.0, 1.0)
    before = folded.values()
    # When a pair of floats whose error, squared, is not finite is folded
    assert folded.fold(ground_truth, prediction, seq=2) is False
    # Then nothing moved, and it is counted as skipped
    assert folded.values() == before
    assert (folded.n_folded, folded.n_skipped) == (1, 1)


def test_regression_floats_fold_into_exactly_river_s_metrics_and_drift_detector():
    # Given river's own metrics and detector, and the served metrics, over the same float pairs
    folded = OnlineMetrics(get_flavor("regression"))
    reference = [metrics.MAE(), metrics.RMSE(), metrics.SMAPE()]
    detector = type(folded.detector)()
    pairs = [(float(i % 7) - 2.5, float(i % 5) * 0.3 + (50.0 if i == 40 else 0.0)) for i in range(300)]
    drifts = 0
    # When both fold them
    for y, p in pairs:
        folded.fold(y, p)
        for metric in reference:
            metric.update(y, p)
        detector.update(abs(y - p))
        drifts += detector.drift_detected
    # Then every figure is river's, bit for bit
    assert folded.values() == {type(m).__name__: m.get() for m in reference}
    assert (folded.n_folded, folded.n_drifts) == (300, drifts)
