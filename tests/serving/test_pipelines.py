"""Pipelines served: a two-stage pipeline is exact against the same two models chained in-process, learns by
id on exactly the features each stage saw, survives a fresh process, and refuses bad learns before any stage learns."""

import itertools

import dill
import pytest
from river import anomaly, datasets, linear_model, preprocessing

import serving
from catalogue import pipelines, services
from catalogue.errors import Conflict, InvalidInput, NotFound
from serving import log
from serving import pipelines as served
from serving.models import LearnEvent, PendingPrediction
from serving.process import current
from tests import factories

pytestmark = pytest.mark.django_db

STAGES = [{"model": "scorer", "as": "anomaly_score"}, {"model": "clf"}]


def scorer():
    return preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=42)


def classifier():
    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


def live_model(obj, *, name: str, flavor: str):
    model = factories.MLModelFactory(name=name, flavor=flavor)
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj))
    services.deployment_promote(version=version)
    return model


@pytest.fixture
def two_stage():
    """An anomaly scorer feeding a binary classifier, each live, and the pipeline "fraud" over them."""
    live_model(scorer(), name="scorer", flavor="anomaly")
    live_model(classifier(), name="clf", flavor="binary")
    return pipelines.pipeline_create(name="fraud", stages=STAGES)


def live_object(name: str):
    _, state = serving.live_state(model=name)
    return dill.loads(state)


def scaled_range(model) -> dict:
    scaler = model["MinMaxScaler"]
    return {name: (scaler.min[name].get(), scaler.max[name].get()) for name in scaler.min}


def test_a_two_stage_pipeline_is_exact_against_the_same_models_chained_in_process(two_stage):
    # Given the same two models, chained in-process
    ref_scorer, ref_clf = scorer(), classifier()
    for i, (x, y) in enumerate(itertools.islice(datasets.Phishing(), 150)):
        # When the pipeline predicts with an id, then learns the ground truth by that id
        answer = served.predict(pipeline="fraud", features=x, id=i)
        score = ref_scorer.score_one(x)
        expected = ref_clf.predict_proba_one({**x, "anomaly_score": score})
        # Then every stage's answer equals the in-process chain's, and the last stage's answers the pipeline
        assert answer.stages["scorer"]["prediction"] == score
        assert answer.prediction == expected
        assert answer.stages["clf"]["prediction"] == {str(k): v for k, v in expected.items()}
        served.learn(pipeline="fraud", id=i, ground_truth=y)
        ref_scorer.learn_one(x)
        ref_clf.learn_one({**x, "anomaly_score": score}, y)
        # And the learned states are equal after every step
        assert live_object("clf")["LogisticRegression"].weights == ref_clf["LogisticRegression"].weights
        assert scaled_range(live_object("scorer")) == scaled_range(ref_scorer)
    assert dill.dumps(live_object("scorer")["HalfSpaceTrees"].trees) == dill.dumps(ref_scorer["HalfSpaceTrees"].trees)


def test_a_fresh_process_replays_the_stages_logs_and_answers_the_same(two_stage):
    # Given a pipeline that learned a stream
    stream = list(itertools.islice(datasets.Phishing(), 60))
    for i, (x, y) in enumerate(stream[:50]):
        served.predict(pipeline="fraud", features=x, id=i)
        served.learn(pipeline="fraud", id=i, ground_truth=y)
    before = [served.predict(pipeline="fraud", features=x).as_dict() for x, _ in stream[50:]]
    # When the process starts afresh (replicas loaded from the learn logs)
    current().reset()
    after = [served.predict(pipeline="fraud", features=x).as_dict() for x, _ in stream[50:]]
    # Then it answers the same
    assert after == before


def test_each_stage_keeps_its_pending_prediction_under_the_derived_id(two_stage):
    x, _ = next(iter(datasets.Phishing()))
    answer = served.predict(pipeline="fraud", features=x, id=7)
    assert answer.id == 7
    keys = set(PendingPrediction.objects.values_list("model__name", "key"))
    assert keys == {("scorer", log.pending_key("fraud:7")), ("clf", log.pending_key("fraud:7"))}
    stored = PendingPrediction.objects.get(model__name="clf")
    assert stored.features == {**x, "anomaly_score": answer.stages["scorer"]["prediction"]}


def test_a_learn_by_id_writes_each_stage_s_own_learn_log(two_stage):
    x, y = next(iter(datasets.Phishing()))
    served.predict(pipeline="fraud", features=x, id="a")
    result = served.learn(pipeline="fraud", id="a", ground_truth=y)
    assert set(result["stages"]) == {"scorer", "clf"}
    scorer_entry = LearnEvent.objects.get(model__name="scorer")
    clf_entry = LearnEvent.objects.get(model__name="clf")
    assert (scorer_entry.ground_truth, scorer_entry.features) == (None, x)
    assert clf_entry.ground_truth is y
    assert clf_entry.features["anomaly_score"] == result["stages"]["scorer"]["prediction"]
    assert serving.metrics(model="clf")["n_scored"] == 1


def test_per_stage_ground_truths_reach_their_stages(two_stage):
    x, y = next(iter(datasets.Phishing()))
    served.predict(pipeline="fraud", features=x, id=1)
    served.learn(pipeline="fraud", id=1, ground_truth={"scorer": True, "clf": y})
    assert LearnEvent.objects.get(model__name="scorer").ground_truth is True
    assert serving.metrics(model="scorer")["n_learned"] == 1


def test_a_supervised_stage_before_the_last_learns_only_its_own_ground_truth():
    live_model(classifier(), name="first", flavor="binary")
    live_model(classifier(), name="second", flavor="binary")
    pipelines.pipeline_create(name="two", stages=[{"model": "first", "as": "p"}, {"model": "second"}])
    served.predict(pipeline="two", features={"x": 1.0}, id=1)
    served.learn(pipeline="two", id=1, ground_truth=True)
    assert list(LearnEvent.objects.values_list("model__name", flat=True)) == ["second"]
    # The first stage's probability of true is the second stage's feature
    assert PendingPrediction.objects.get(model__name="first").key == log.pending_key("two:1")


def test_a_learn_with_an_unknown_id_is_not_found_and_no_stage_learns(two_stage):
    with pytest.raises(NotFound, match="no pending prediction of pipeline fraud"):
        served.learn(pipeline="fraud", id="never", ground_truth=True)
    assert not LearnEvent.objects.exists()


def test_a_learn_whose_last_stage_lost_its_pending_prediction_teaches_no_stage(two_stage):
    x, _ = next(iter(datasets.Phishing()))
    served.predict(pipeline="fraud", features=x, id=3)
    PendingPrediction.objects.filter(model__name="clf").delete()
    with pytest.raises(NotFound, match="at stage clf"):
        served.learn(pipeline="fraud", id=3, ground_truth=True)
    assert not LearnEvent.objects.exists()
    assert PendingPrediction.objects.filter(model__name="scorer").exists()


def test_an_id_learned_once_is_refused_the_second_time(two_stage):
    x, _ = next(iter(datasets.Phishing()))
    served.predict(pipeline="fraud", features=x, id=4)
    served.learn(pipeline="fraud", id=4, ground_truth=True)
    with pytest.raises(Conflict, match="already learned"):
        served.learn(pipeline="fraud", id=4, ground_truth=True)
    assert LearnEvent.objects.count() == 2


@pytest.mark.parametrize(
    ("ground_truth", "message"),
    [
        ({"nobody": True}, "'nobody' is none"),
        ({}, "it is empty"),
        ({"clf": "maybe"}, "clf: the ground truth must be true/false"),
        (None, "the last stage, clf, is a binary model"),
        ("yes", "true/false or 0/1"),
    ],
)
def test_bad_ground_truths_are_refused_before_any_stage_learns(two_stage, ground_truth, message):
    x, _ = next(iter(datasets.Phishing()))
    served.predict(pipeline="fraud", features=x, id=5)
    with pytest.raises(InvalidInput, match=message):
        served.learn(pipeline="fraud", id=5, ground_truth=ground_truth)
    assert not LearnEvent.objects.exists()
    assert PendingPrediction.objects.count() == 2


def test_a_learn_needs_an_id(two_stage):
    with pytest.raises(InvalidInput, match="id is required"):
        served.learn(pipeline="fraud", id=None, ground_truth=True)


def test_a_stage_model_without_production_is_a_conflict(two_stage):
    clf = services.get_model_or_404("clf")
    services.version_retire(version=clf.versions.get())
    with pytest.raises(Conflict, match="stage clf of fraud has no production version"):
        served.predict(pipeline="fraud", features={"x": 1.0})
    assert not PendingPrediction.objects.exists()


def test_a_feature_named_like_a_stage_output_is_refused(two_stage):
    with pytest.raises(InvalidInput, match=r"features\.anomaly_score is the name of stage scorer's output"):
        served.predict(pipeline="fraud", features={"anomaly_score": 1.0})


@pytest.mark.parametrize("features", [None, [1], "x"])
def test_features_must_be_an_object(two_stage, features):
    with pytest.raises(InvalidInput, match="features must be a JSON object"):
        served.predict(pipeline="fraud", features=features)


def test_an_unknown_pipeline_is_not_found():
    with pytest.raises(NotFound, match="no pipeline named 'ghost'"):
        served.predict(pipeline="ghost", features={})


def test_an_id_too_long_with_the_pipeline_name_is_refused(two_stage):
    with pytest.raises(InvalidInput, match="at most 190"):
        served.predict(pipeline="fraud", features={"x": 1.0}, id="i" * 188)


def test_a_stage_answers_through_its_canary_like_a_direct_predict(two_stage):
    # Given a canary on the classifier taking every request
    clf = services.get_model_or_404("clf")
    other = classifier()
    other["LogisticRegression"].intercept = 3.0
    canary = factories.ModelVersionFactory(model=clf, artifact=dill.dumps(other))
    services.canary_set(version=canary, percent=100)
    # Then the pipeline's last stage answers with the canary, as the model's own predict does
    answer = served.predict(pipeline="fraud", features={"x": 1.0}, id=9)
    assert answer.stages["clf"]["version"] == 2


def test_a_deleted_stage_model_is_a_conflict_naming_it(two_stage):
    services.model_delete(model=services.get_model_or_404("clf"))
    with pytest.raises(Conflict, match="names model 'clf', which no longer exists") as refused:
        served.predict(pipeline="fraud", features={"x": 1.0})
    assert refused.value.code == "stage_missing"
