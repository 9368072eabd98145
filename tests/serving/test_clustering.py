"""The clustering flavor: learn takes features only; predict answers the cluster; sizes in the metrics."""

import random

import pytest
from river import cluster

import serving
from catalogue.errors import InvalidInput
from serving.process import ServingProcess, acting_as, current
from tests.serving.flavor_helpers import live_model

pytestmark = pytest.mark.django_db

CENTERS = [(0.0, 0.0), (5.0, 5.0), (-5.0, 5.0)]


def blobs(n: int, seed: int = 0) -> list[dict]:
    """Points around three centers (generated, reproducible)."""
    rng = random.Random(seed)
    points = []
    for _ in range(n):
        cx, cy = rng.choice(CENTERS)
        points.append({"x": cx + rng.gauss(0, 0.5), "y": cy + rng.gauss(0, 0.5)})
    return points


def kmeans():
    return cluster.KMeans(n_clusters=3, halflife=0.4, sigma=3, seed=42)


@pytest.mark.parametrize("factory", [kmeans, lambda: cluster.DBSTREAM(clustering_threshold=1.5)])
def test_clusters_equal_the_river_model_fed_the_same_points(factory):
    # Given a clusterer that learned 200 points
    live_model(factory(), flavor="clustering")
    reference = factory()
    points = blobs(200)
    for x in points:
        serving.learn(model="live", features=x)
        reference.learn_one(x)
    # Then every prediction is river's
    for probe in blobs(20, seed=1):
        assert serving.predict(model="live", features=probe).prediction == reference.predict_one(probe)


def test_a_learn_answers_the_cluster_given_before_learning_and_the_sizes_count_them():
    live_model(kmeans(), flavor="clustering")
    reference = kmeans()
    sizes: dict[int, int] = {}
    for x in blobs(120):
        learned = serving.learn(model="live", features=x)
        expected = reference.predict_one(x)
        assert learned.prediction == expected
        assert learned.ground_truth is None
        sizes[expected] = sizes.get(expected, 0) + 1
        reference.learn_one(x)
    served = serving.metrics(model="live")
    assert served["metrics"] == {
        "n_clusters": float(len(sizes)),
        **{f"cluster_{c}": float(n) for c, n in sorted(sizes.items())},
    }
    assert served["n_scored"] == 120


def test_a_learn_by_id_learns_the_stored_features_with_the_cluster_predicted_then():
    live_model(kmeans(), flavor="clustering")
    x = {"x": 5.0, "y": 5.0}
    predicted = serving.predict(model="live", features=x, id="p1").prediction
    learned = serving.learn(model="live", id="p1")
    assert (learned.features, learned.prediction) == (x, predicted)


def test_a_restarted_process_replays_to_the_same_clusters_and_sizes(settings):
    settings.RHYTHMIC_CHECKPOINT_EVERY = 25
    live_model(kmeans(), flavor="clustering")
    for x in blobs(90):
        serving.learn(model="live", features=x)
    probes = blobs(10, seed=3)
    before = ([serving.predict(model="live", features=p).prediction for p in probes], serving.metrics(model="live"))
    current().forget()
    after = ([serving.predict(model="live", features=p).prediction for p in probes], serving.metrics(model="live"))
    assert after == before


def test_two_processes_learning_in_turn_agree():
    live_model(kmeans(), flavor="clustering")
    processes = [ServingProcess(), ServingProcess()]
    for i, x in enumerate(blobs(60)):
        with acting_as(processes[i % 2]):
            serving.learn(model="live", features=x)
    probe = {"x": 4.0, "y": 4.5}
    answers = []
    for process in processes:
        with acting_as(process):
            answers.append((serving.predict(model="live", features=probe).prediction, serving.metrics(model="live")))
    assert answers[0] == answers[1]


@pytest.mark.parametrize("ground_truth", [1, "a", 0.0, False])
def test_a_learn_with_a_ground_truth_is_refused(ground_truth):
    live_model(kmeans(), flavor="clustering")
    with pytest.raises(InvalidInput, match="learns features only") as caught:
        serving.learn(model="live", features={"x": 1.0, "y": 1.0}, ground_truth=ground_truth)
    assert caught.value.field == "ground_truth"


def test_a_learn_without_features_or_id_is_refused():
    live_model(kmeans(), flavor="clustering")
    with pytest.raises(InvalidInput, match="send either the id"):
        serving.learn(model="live")


def test_learn_many_refuses_only_the_items_with_a_ground_truth():
    live_model(kmeans(), flavor="clustering")
    results = serving.learn_many(
        model="live", items=[{"features": {"x": 1.0, "y": 0.0}}, {"features": {"x": 1.0}, "ground_truth": 2}]
    )
    assert results[0]["seq"] == 1
    assert results[1]["error"]["field"] == "ground_truth"
