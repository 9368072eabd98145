"""A pipeline's learn by id teaches each stage exactly the features that stage saw at predict time (its stored
pending features, the earlier stages' outputs of that moment included), whatever the stages learned since, and
with the stages of the pipeline's production version at learn time."""

import itertools

import dill
import pytest
from river import anomaly, datasets, preprocessing

import serving
from catalogue import pipelines
from catalogue.errors import NotFound
from serving import pipelines as served
from serving.models import LearnEvent, PendingPrediction
from tests.serving.test_pipelines import STAGES, classifier, live_model, live_object, scaled_range

pytestmark = pytest.mark.django_db

STREAM = list(itertools.islice(datasets.Phishing(), 40))


def scorer():
    # A short window: its scores change within a few learns (the default window scores 0 for 250)
    return preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=42, window_size=5)


@pytest.fixture
def fraud():
    live_model(scorer(), name="scorer", flavor="anomaly")
    live_model(classifier(), name="clf", flavor="binary")
    return pipelines.pipeline_create(name="fraud", stages=STAGES)


def test_learns_long_after_their_predicts_use_the_scores_of_the_predict_not_of_now(fraud):
    # Given a scorer that has learned a little, and 20 predictions with ids, their scores as answered then
    for x, _ in STREAM[20:30]:
        serving.learn(model="scorer", features=x)
    seen = {}
    for i, (x, _) in enumerate(STREAM[:20]):
        answer = served.predict(pipeline="fraud", features=x, id=i)
        seen[i] = {**x, "anomaly_score": answer.stages["scorer"]["prediction"]}
    # When the scorer keeps learning (20 more points, learned by the model directly) and the ids are learned
    # afterwards, in reverse order
    for x, _ in STREAM[30:]:
        serving.learn(model="scorer", features=x)
    ref_scorer, ref_clf = scorer(), classifier()
    for x, _ in STREAM[20:]:
        ref_scorer.learn_one(x)
    for i in reversed(range(20)):
        x, y = STREAM[i]
        served.learn(pipeline="fraud", id=i, ground_truth=y)
        ref_scorer.learn_one(x)
        ref_clf.learn_one(seen[i], y)
    # Then the classifier learned each id on the score it was given at predict time, which today's scorer would
    # no longer give
    logged = LearnEvent.objects.filter(model__name="clf").order_by("seq").values_list("features", flat=True)
    assert list(logged) == [seen[i] for i in reversed(range(20))]
    assert len({features["anomaly_score"] for features in seen.values()}) > 1
    now = served.predict(pipeline="fraud", features=STREAM[0][0]).stages["scorer"]["prediction"]
    assert now != seen[0]["anomaly_score"]
    # And both stages' states equal the in-process models fed exactly those features in that order
    assert live_object("clf")["LogisticRegression"].weights == ref_clf["LogisticRegression"].weights
    assert scaled_range(live_object("scorer")) == scaled_range(ref_scorer)
    assert dill.dumps(live_object("scorer")["HalfSpaceTrees"].trees) == dill.dumps(ref_scorer["HalfSpaceTrees"].trees)


def test_after_a_promote_the_stages_of_the_new_version_learn_on_their_stored_features(fraud):
    # Given an id predicted by v1 (scorer -> clf)
    x, y = STREAM[0]
    answer = served.predict(pipeline="fraud", features=x, id="tx")
    stored = {**x, "anomaly_score": answer.stages["scorer"]["prediction"]}
    # When v2, the classifier alone, is promoted before the learn
    v2 = pipelines.pipeline_version_create(pipeline=fraud, stages=[{"model": "clf"}])
    pipelines.pipeline_promote(version=v2)
    result = served.learn(pipeline="fraud", id="tx", ground_truth=y)
    # Then only v2's stage learns, on the features it saw under v1 (the score included)
    assert (result["version"], set(result["stages"])) == (2, {"clf"})
    assert LearnEvent.objects.get(model__name="clf").features == stored
    assert not LearnEvent.objects.filter(model__name="scorer").exists()
    # And the scorer's pending prediction is left to expire
    assert PendingPrediction.objects.filter(model__name="scorer").count() == 1


def test_after_a_promote_an_id_a_new_stage_never_saw_is_not_found_and_nothing_learns(fraud):
    live_model(classifier(), name="clf2", flavor="binary")
    x, y = STREAM[0]
    served.predict(pipeline="fraud", features=x, id="tx")
    v2 = pipelines.pipeline_version_create(
        pipeline=fraud, stages=[{"model": "scorer", "as": "anomaly_score"}, {"model": "clf2"}]
    )
    pipelines.pipeline_promote(version=v2)
    with pytest.raises(NotFound, match="at stage clf2"):
        served.learn(pipeline="fraud", id="tx", ground_truth=y)
    assert not LearnEvent.objects.exists()
    assert PendingPrediction.objects.count() == 2  # scorer's and clf's, untouched


def test_a_clusterer_and_a_recommender_feed_a_classifier_exactly_as_chained_in_process():
    # Given a KMeans and a recommender as the first stages of a classifier, each live
    from river import cluster, compose, optim, reco

    from tests.serving.test_recommendation import ratings

    def groups():
        return compose.Select("hour") | cluster.KMeans(n_clusters=3, seed=1)  # user and item are no numbers

    def films():
        return reco.Baseline(optimizer=optim.SGD(0.05))

    def liker():
        return compose.Select("hour", "group", "rating") | classifier()

    live_model(groups(), name="groups", flavor="clustering")
    live_model(films(), name="films", flavor="recommendation")
    live_model(liker(), name="clf", flavor="binary")
    stages = [{"model": "groups", "as": "group"}, {"model": "films", "as": "rating"}, {"model": "clf"}]
    pipelines.pipeline_create(name="liked", stages=stages)
    ref_groups, ref_films, ref_clf = groups(), films(), liker()
    # When rated pairs go through predict with an id, then learn with a ground truth per stage
    for i, (x, rating) in enumerate(ratings(60, seed=2)):
        x = {"user": x["user"], "item": x["item"], "hour": float(i % 24)}
        answer = served.predict(pipeline="liked", features=x, id=i)
        group = ref_groups.predict_one(x)
        predicted = ref_films.predict_one(x["user"], x["item"], x={"hour": x["hour"], "group": group})
        seen = {**x, "group": group, "rating": predicted}
        # Then each stage answers as the in-process chain, on the earlier stages' outputs
        assert answer.stages["groups"]["prediction"] == group
        assert answer.stages["films"]["prediction"] == predicted
        assert answer.prediction == ref_clf.predict_proba_one(seen)
        liked = rating >= 3.0
        served.learn(pipeline="liked", id=i, ground_truth={"films": rating, "clf": liked})
        ref_groups.learn_one(x)
        ref_films.learn_one(x["user"], x["item"], rating, x={"hour": x["hour"], "group": group})
        ref_clf.learn_one(seen, liked)
    # And every stage learned on exactly what it saw: the clusterer its features, the others their ground truth
    assert LearnEvent.objects.filter(model__name="groups", ground_truth__isnull=True).count() == 60
    assert live_object("clf")["LogisticRegression"].weights == ref_clf["LogisticRegression"].weights
    assert live_object("films").u_biases == ref_films.u_biases
