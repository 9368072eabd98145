"""The serving core: predict, learn, the learn log, replicas, checkpoints and online metrics."""

import copy
import itertools
import json
from datetime import timedelta

import dill
import pytest
from django.utils import timezone
from river import anomaly, datasets, evaluate, linear_model, metrics, preprocessing, tree

import serving
from catalogue import services
from catalogue.errors import Conflict, InvalidInput, NotFound, WrongLocation
from catalogue.models import MLModel
from serving import log
from serving.models import Checkpoint, LearnEvent, PendingPrediction
from serving.process import ServingProcess, acting_as, current
from tests import factories

pytestmark = pytest.mark.django_db


def live_model(obj, *, flavor="regression", name="live"):
    """A model whose production version is ``obj``."""
    model = factories.MLModelFactory(name=name, flavor=flavor)
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj))
    services.deployment_promote(version=version)
    return model, version


def regressor():
    return preprocessing.StandardScaler() | linear_model.LinearRegression()


def test_predict_answers_with_the_production_version_and_state_seq():
    live_model(regressor())
    result = serving.predict(model="live", features={"x": 1.0})
    assert (result.model, result.version, result.state_seq) == ("live", 1, 0)
    assert result.prediction == 0.0


def test_predict_without_production_version_is_refused_clearly():
    factories.ModelVersionFactory(model=factories.MLModelFactory(name="idle"))
    with pytest.raises(Conflict, match="no production version"):
        serving.predict(model="idle", features={"x": 1.0})


def test_predict_on_an_unknown_model_is_not_found():
    with pytest.raises(NotFound):
        serving.predict(model="ghost", features={})


@pytest.mark.parametrize("features", [None, [1, 2], "x=1", 3])
def test_predict_refuses_features_that_are_not_an_object(features):
    live_model(regressor())
    with pytest.raises(InvalidInput, match="features must be a JSON object"):
        serving.predict(model="live", features=features)


@pytest.mark.parametrize("bad_id", [True, 1.5, [1], {"a": 1}, ""])
def test_predict_refuses_ids_that_are_not_int_or_string(bad_id):
    live_model(regressor())
    with pytest.raises(InvalidInput):
        serving.predict(model="live", features={"x": 1}, id=bad_id)


def test_learn_with_an_id_uses_the_stored_features_and_consumes_the_id():
    live_model(regressor())
    serving.predict(model="live", features={"x": 2.0}, id=42)
    learned = serving.learn(model="live", id=42, ground_truth=3.0, features={"ignored": 1})
    assert learned.features == {"x": 2.0}
    assert learned.seq == 1
    assert not PendingPrediction.objects.exists()
    with pytest.raises(Conflict, match="already learned"):
        serving.learn(model="live", id=42, ground_truth=3.0)


def test_ids_42_and_string_42_are_different():
    live_model(regressor())
    serving.predict(model="live", features={"x": 1.0}, id=42)
    with pytest.raises(NotFound, match="predict with this id first"):
        serving.learn(model="live", id="42", ground_truth=1.0)


def test_learn_without_id_or_features_says_what_to_send():
    live_model(regressor())
    with pytest.raises(InvalidInput, match="either the id given to predict, or the features"):
        serving.learn(model="live", ground_truth=1.0)


@pytest.mark.parametrize(
    ("flavor", "obj", "bad"),
    [
        ("regression", regressor(), "ten"),
        ("regression", regressor(), True),
        ("regression", regressor(), None),
        ("binary", linear_model.LogisticRegression(), "yes"),
        ("binary", linear_model.LogisticRegression(), 2),
        ("multiclass", tree.HoeffdingTreeClassifier(), [1]),
        ("multiclass", tree.HoeffdingTreeClassifier(), {"a": 1}),
    ],
)
def test_learn_refuses_a_ground_truth_that_does_not_fit_the_flavor(flavor, obj, bad):
    live_model(obj, flavor=flavor)
    serving.predict(model="live", features={"x": 1.0}, id=1)
    with pytest.raises(InvalidInput) as error:
        serving.learn(model="live", id=1, ground_truth=bad)
    assert error.value.field == "ground_truth"
    # Nothing was consumed or logged: the client can correct and retry.
    assert PendingPrediction.objects.count() == 1
    assert not LearnEvent.objects.exists()


def test_an_expired_id_is_not_found(settings):
    live_model(regressor())
    serving.predict(model="live", features={"x": 1.0}, id="old")
    PendingPrediction.objects.update(created_at=PendingPrediction.objects.get().created_at - timedelta(days=8))
    with pytest.raises(NotFound):
        serving.learn(model="live", id="old", ground_truth=1.0)
    assert log.pending_expire() == 1


def test_progressive_validation_on_phishing_matches_river_exactly():
    # Given the same model served by Rhythmic and evaluated by river
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    live_model(copy.deepcopy(model), flavor="binary")
    expected = metrics.Accuracy() + metrics.LogLoss() + metrics.Precision() + metrics.Recall() + metrics.F1()
    evaluate.progressive_val_score(datasets.Phishing(), copy.deepcopy(model), expected)
    # When the dataset streams through predict(id) -> learn(id)
    for i, (x, y) in enumerate(datasets.Phishing()):
        serving.predict(model="live", features=x, id=i)
        serving.learn(model="live", id=i, ground_truth=y)
    # Then the online metrics are exactly river's
    served = serving.metrics(model="live")["metrics"]
    assert served == {type(m).__name__: m.get() for m in expected}
    assert serving.metrics(model="live")["n_learned"] == 1250


def test_a_restarted_process_replays_the_log_to_the_same_state():
    live_model(regressor())
    reference = regressor()
    for x, y in itertools.islice(datasets.TrumpApproval(), 60):
        serving.learn(model="live", features=x, ground_truth=y)
        reference.learn_one(x, y)
    before = serving.metrics(model="live")
    current().forget()  # the process restarts
    probe = next(iter(datasets.TrumpApproval()))[0]
    assert serving.predict(model="live", features=probe).prediction == reference.predict_one(probe)
    assert serving.metrics(model="live") == before


def test_checkpoints_are_written_and_a_restart_loads_the_latest_then_replays_the_tail(settings):
    settings.RHYTHMIC_CHECKPOINT_EVERY = 10
    settings.RHYTHMIC_CHECKPOINTS_KEPT = 2
    _, version = live_model(regressor())
    reference = regressor()
    stream = list(itertools.islice(datasets.TrumpApproval(), 35))
    for x, y in stream:
        serving.learn(model="live", features=x, ground_truth=y)
        reference.learn_one(x, y)
    assert list(Checkpoint.objects.filter(version=version).values_list("seq", flat=True)) == [30, 20]
    current().forget()
    assert serving.predict(model="live", features=stream[0][0]).prediction == pytest.approx(
        reference.predict_one(stream[0][0])
    )
    assert serving.metrics(model="live")["n_learned"] == 35


def test_two_replicas_alternating_give_the_predictions_of_one_model():
    # Given two processes serving the same model
    live_model(regressor())

    processes = [ServingProcess(), ServingProcess()]
    reference = regressor()
    for i, (x, y) in enumerate(itertools.islice(datasets.TrumpApproval(), 40)):
        with acting_as(processes[i % 2]):
            got = serving.predict(model="live", features=x, id=i).prediction
            serving.learn(model="live", id=i, ground_truth=y)
        # Then each answer equals, bit for bit, the single in-process model fed the same learn sequence
        assert got == reference.predict_one(x)
        reference.learn_one(x, y)


def test_promote_and_rollback_switch_the_serving_version_without_restart():
    model, _v1 = live_model(regressor())
    v2 = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(linear_model.LinearRegression(intercept_init=5))
    )
    assert serving.predict(model="live", features={"x": 1}).version == 1
    services.deployment_promote(version=v2)
    assert serving.predict(model="live", features={"x": 1}).version == 2
    services.deployment_rollback(model=model)
    assert serving.predict(model="live", features={"x": 1}).version == 1


def test_a_learn_for_a_prediction_of_the_previous_version_updates_that_version():
    model, _v1 = live_model(regressor())
    serving.predict(model="live", features={"x": 1.0}, id="a")
    v2 = factories.ModelVersionFactory(model=model)
    services.deployment_promote(version=v2)
    learned = serving.learn(model="live", id="a", ground_truth=2.0)
    assert learned.version == 1
    assert serving.metrics(model="live", version=1)["n_learned"] == 1
    assert serving.metrics(model="live", version=2)["n_learned"] == 0


def test_learn_many_answers_each_item_and_appends_the_good_ones_in_one_go():
    live_model(regressor())
    serving.predict(model="live", features={"x": 1.0}, id=1)
    results = serving.learn_many(
        model="live",
        items=[
            {"id": 1, "ground_truth": 1.5},
            {"id": 2, "ground_truth": 1.0},
            {"features": {"x": 3.0}, "ground_truth": "bad"},
            {"features": {"x": 3.0}, "ground_truth": 4.0},
            "junk",
        ],
    )
    assert [r.get("seq") for r in results] == [1, None, None, 2, None]
    assert [r["error"]["code"] for r in results if "error" in r] == ["not_found", "invalid", "invalid"]
    assert LearnEvent.objects.count() == 2


def test_batches_over_the_limit_are_refused(settings):
    settings.RHYTHMIC_MAX_BATCH = 2
    live_model(regressor())
    with pytest.raises(InvalidInput, match="at most 2 items"):
        serving.predict_many(model="live", items=[{"features": {}}] * 3)
    with pytest.raises(InvalidInput, match="non-empty JSON list"):
        serving.learn_many(model="live", items={"features": {}})


def test_predict_many_stores_ids_and_reports_item_errors():
    live_model(regressor())
    results = serving.predict_many(model="live", items=[{"features": {"x": 1}, "id": "a"}, {"features": 3}])
    assert results[0]["prediction"] == 0.0
    assert results[1]["error"]["field"] == "features"
    assert PendingPrediction.objects.filter(key='"a"').exists()


def test_predict_many_with_one_id_twice_keeps_the_last_prediction():
    live_model(linear_model.LinearRegression())
    serving.learn(model="live", features={"x": 1.0}, ground_truth=5.0)  # so predictions differ by features
    results = serving.predict_many(
        model="live", items=[{"features": {"x": 1.0}, "id": "a"}, {"features": {"x": 3.0}, "id": "a"}]
    )
    assert results[0]["prediction"] != results[1]["prediction"]
    learned = serving.learn(model="live", id="a", ground_truth=4.0)
    assert learned.features == {"x": 3.0}
    assert learned.prediction == results[1]["prediction"]


def test_batches_larger_than_one_statement_store_and_learn_every_row(monkeypatch):
    monkeypatch.setattr(log, "ROWS_PER_STATEMENT", 4)
    live_model(regressor())
    n = 4 * 2 + 3
    serving.predict_many(model="live", items=[{"features": {"x": float(i)}, "id": i} for i in range(n)])
    assert PendingPrediction.objects.count() == n
    results = serving.learn_many(model="live", items=[{"id": i, "ground_truth": float(i)} for i in range(n)])
    assert [r["seq"] for r in results] == list(range(1, n + 1))
    assert list(LearnEvent.objects.order_by("seq").values_list("key", flat=True)) == [str(i) for i in range(n)]
    assert not PendingPrediction.objects.exists()


def test_a_predict_only_model_refuses_learn():
    from sklearn.linear_model import LinearRegression

    fitted = LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])
    live_model(fitted)
    assert serving.predict(model="live", features={"x": 1.0}, id=1).prediction == pytest.approx(2.0)
    with pytest.raises(Conflict, match="predict-only"):
        serving.learn(model="live", id=1, ground_truth=2.0)
    assert PendingPrediction.objects.count() == 1


def test_a_model_failing_on_the_features_is_a_client_error():
    class NeedsX:
        def learn_one(self, x, y):
            pass

        def predict_one(self, x):
            return x["x"] * 2

    live_model(NeedsX())
    with pytest.raises(InvalidInput, match="could not predict on these features: KeyError"):
        serving.predict(model="live", features={"y": 1})


def test_anomaly_models_score_and_learn_without_labels():
    live_model(anomaly.HalfSpaceTrees(seed=1), flavor="anomaly")
    score = serving.predict(model="live", features={"x": 0.5}, id=1).prediction
    assert isinstance(score, int | float)
    serving.learn(model="live", id=1)
    serving.learn(model="live", features={"x": 0.9}, ground_truth=True)
    assert serving.metrics(model="live")["n_learned"] == 2


def test_classifier_predictions_keep_label_types_through_the_log():
    live_model(linear_model.LogisticRegression(), flavor="binary")
    serving.predict(model="live", features={"x": 1.0}, id=1)
    learned = serving.learn(model="live", id=1, ground_truth=True)
    assert set(learned.prediction) == {False, True}
    assert learned.as_dict()["prediction"].keys() == {"False", "True"}


def test_snapshot_turns_the_live_state_into_a_child_version():
    _, v1 = live_model(regressor())
    for x, y in itertools.islice(datasets.TrumpApproval(), 5):
        serving.learn(model="live", features=x, ground_truth=y)
    child = serving.snapshot(model="live")
    assert (child.number, child.parent_id) == (2, v1.pk)
    state = dill.loads(bytes(child.artifact))
    probe = next(iter(datasets.TrumpApproval()))[0]
    assert state.predict_one(probe) == pytest.approx(serving.predict(model="live", features=probe).prediction)
    v1.refresh_from_db()
    assert bytes(v1.artifact) != bytes(child.artifact)  # the uploaded artifact never changes


def test_stats_count_calls_and_report_percentiles():
    live_model(regressor())
    for _ in range(3):
        serving.predict(model="live", features={"x": 1})
    stats = serving.route_stats(model="live")["predict"]
    assert stats["n_calls"] == 3
    assert stats["p50_duration"] <= stats["p99_duration"]
    assert stats["mean_duration_human"].endswith("ns")


def test_refused_calls_are_neither_predictions_nor_latency_in_the_route_stats():
    # Given a model without a production version, and a live one
    factories.MLModelFactory(name="idle")
    live_model(regressor())
    # When each refuses a call (409 no production; 400 bad features)
    with pytest.raises(Conflict, match="no production version"):
        serving.predict(model="idle", features={"x": 1})
    with pytest.raises(InvalidInput):
        serving.predict(model="live", features="not an object")
    serving.predict(model="live", features={"x": 1})
    # Then only the answered call counts
    assert serving.route_stats(model="idle") == {}
    assert serving.route_stats(model="live")["predict"]["n_calls"] == 1


def test_expired_pending_predictions_are_swept_without_a_scheduler(settings):
    # Given an old pending prediction and a process that sweeps on every write
    settings.RHYTHMIC_PENDING_SWEEP_SECONDS = 0
    live_model(regressor())
    serving.predict(model="live", features={"x": 1.0}, id="old")
    PendingPrediction.objects.update(created_at=PendingPrediction.objects.get().created_at - timedelta(days=8))
    # When another prediction with an id is stored
    serving.predict(model="live", features={"x": 1.0}, id="new")
    # Then the expired one is gone
    assert list(PendingPrediction.objects.values_list("key", flat=True)) == ['"new"']


def test_a_staleness_bound_lets_a_replica_answer_without_catching_up(settings):

    live_model(regressor())
    other = ServingProcess()
    # Given a second process that has just caught up, and a bound of a minute
    settings.RHYTHMIC_MAX_STALENESS_MS = 60_000
    with acting_as(other):
        assert serving.predict(model="live", features={"x": 1.0}).state_seq == 0
    # When this process learns
    serving.learn(model="live", features={"x": 1.0}, ground_truth=5.0)
    with acting_as(other):
        # Then the other answers from its (stale) state within the bound...
        assert serving.predict(model="live", features={"x": 1.0}).state_seq == 0
        # ...and catches up as soon as the bound is 0 (a client sees its own learns)
        settings.RHYTHMIC_MAX_STALENESS_MS = 0
        assert serving.predict(model="live", features={"x": 1.0}).state_seq == 1


def test_a_drift_in_the_error_stream_is_seen_at_the_same_seq_by_every_replica():
    from serving import observers

    # Given a model whose ground truth changes regime at step 300
    live_model(linear_model.LinearRegression(), name="drifty")
    seen: list[tuple[int, int]] = []

    @observers.observe("drift")
    def record(**event):
        seen.append((event["version"], event["seq"]))

    try:
        for i in range(600):
            x = {"x": (i % 10) / 10}
            y = 2 * x["x"] if i < 300 else 50 - 2 * x["x"]
            serving.learn(model="drifty", features=x, ground_truth=y)
        # Then the drift is detected after the change point
        assert seen, "no drift detected"
        first = seen[0][1]
        assert 300 < first < 400
        # And a fresh process replaying the log sees it at the very same sequence
        seen.clear()
        with acting_as(ServingProcess()):
            serving.metrics(model="drifty")
        assert seen[0][1] == first
    finally:
        observers._observers["drift"].remove(record)


# --- locations: a process may serve one serving pool --------------------------------------------


def test_a_process_for_one_location_serves_the_models_deployed_there(settings):
    settings.RHYTHMIC_LOCATION = "edge"
    model, _ = live_model(regressor())
    MLModel.objects.filter(pk=model.pk).update(location=factories.LocationFactory(name="edge"))
    assert serving.predict(model="live", features={"x": 1.0}).version == 1
    assert serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0).seq == 1


@pytest.mark.parametrize("where", ["core", None])
def test_a_process_for_one_location_refuses_predict_and_learn_of_models_deployed_elsewhere(settings, where):
    settings.RHYTHMIC_LOCATION = "edge"
    model, _ = live_model(regressor())
    MLModel.objects.filter(pk=model.pk).update(location=factories.LocationFactory(name=where) if where else None)
    for call in (
        lambda: serving.predict(model="live", features={"x": 1.0}),
        lambda: serving.predict_many(model="live", items=[{"features": {"x": 1.0}}]),
        lambda: serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0),
        lambda: serving.learn_many(model="live", items=[{"features": {"x": 1.0}, "ground_truth": 2.0}]),
    ):
        with pytest.raises(WrongLocation, match="serves location 'edge' only"):
            call()
    assert not LearnEvent.objects.exists()
    # Reading the (replicated) metrics stays possible anywhere
    assert serving.metrics(model="live")["n_learned"] == 0


def test_without_a_location_setting_a_process_serves_every_location():
    model, _ = live_model(regressor())
    MLModel.objects.filter(pk=model.pk).update(location=factories.LocationFactory(name="far"))
    assert serving.predict(model="live", features={"x": 1.0}).version == 1


def test_a_batch_learns_its_fresh_ids_and_refuses_its_expired_one(settings):
    # Given two ids predicted in a batch, one of them older than the pending TTL
    live_model(regressor())
    serving.predict_many(model="live", items=[{"features": {"x": 1.0}, "id": 1}, {"features": {"x": 2.0}, "id": 2}])
    PendingPrediction.objects.filter(key="2").update(
        created_at=timezone.now() - timedelta(seconds=settings.RHYTHMIC_PENDING_TTL + 1)
    )
    # When both are learned in one batch
    results = serving.learn_many(model="live", items=[{"id": 1, "ground_truth": 1.5}, {"id": 2, "ground_truth": 2.5}])
    # Then the fresh one is learned with its stored features, the expired one is not found and counted expired
    assert results[0]["seq"] == 1 and "error" not in results[0]
    assert results[1]["error"]["code"] == "not_found"
    assert LearnEvent.objects.get().features == {"x": 1.0}
    assert serving.metrics(model="live")["labels"] == {"labelled": 1, "expired": 1, "coverage": 0.5}


def test_pending_rows_decoded_in_bulk_are_what_one_call_a_row_gives():
    # Given stored texts as pending_put writes them (objects, values, null) and one that is not a single value
    texts = ['{"x":1.5,"city":"Paris","tags":[1,null]}', None, '{"value":2}', '{"proba":[[true,0.25]]}']
    # When they are decoded in one call
    decoded = log._loads_all(texts)
    # Then each is what json.loads of it alone gives, and a text that is not one JSON value still fails
    assert decoded == [None if text is None else json.loads(text) for text in texts]
    with pytest.raises(json.JSONDecodeError):
        log._loads_all(['{"x":1}', "1, 2"])
