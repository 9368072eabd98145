"""The recommendation flavor: user and item in the features, ratings learned, rank best first, as river."""

import random

import pytest
from river import metrics, optim, reco

import serving
from catalogue.errors import InvalidInput, NotFound
from serving.process import ServingProcess, acting_as, current
from tests.serving.flavor_helpers import live_model

pytestmark = pytest.mark.django_db

USERS = [f"u{i}" for i in range(8)]
ITEMS = [f"i{i}" for i in range(12)]


def ratings(n: int, seed: int = 0) -> list[tuple[dict, float]]:
    """Generated ratings: each user likes items near its own index, with noise; a context key now and then."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        u, i = rng.randrange(len(USERS)), rng.randrange(len(ITEMS))
        x = {"user": USERS[u], "item": ITEMS[i]}
        if rng.random() < 0.3:
            x["weekday"] = rng.randrange(7)
        rows.append((x, max(1.0, min(5.0, 5 - abs(u - i) / 2 + rng.gauss(0, 0.3)))))
    return rows


def biased_mf():
    return reco.BiasedMF(
        n_factors=4,
        bias_optimizer=optim.SGD(0.02),
        latent_optimizer=optim.SGD(0.02),
        latent_initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=7),
        l2_latent=0.01,
        seed=7,
    )


FACTORIES = [lambda: reco.Baseline(optimizer=optim.SGD(0.02)), biased_mf, lambda: reco.FunkMF(n_factors=3, seed=7)]


def context(x: dict) -> dict | None:
    rest = {k: v for k, v in x.items() if k not in ("user", "item")}
    return rest or None


def fed(factory, rows):
    reference = factory()
    for x, y in rows:
        reference.learn_one(x["user"], x["item"], y, x=context(x))
    return reference


@pytest.mark.parametrize("factory", FACTORIES)
def test_ratings_and_metrics_equal_the_river_model_fed_the_same_learns(factory):
    # Given a recommender that learned 300 ratings without ids (it predicts each before learning it)
    live_model(factory(), flavor="recommendation")
    reference, mae, rmse = factory(), metrics.MAE(), metrics.RMSE()
    for x, y in ratings(300):
        learned = serving.learn(model="live", features=x, ground_truth=y)
        expected = reference.predict_one(x["user"], x["item"], x=context(x))
        assert learned.prediction == expected
        mae.update(y, expected)
        rmse.update(y, expected)
        reference.learn_one(x["user"], x["item"], y, x=context(x))
    # Then predictions and MAE/RMSE on the ratings are river's
    assert serving.predict(model="live", features={"user": "u3", "item": "i4"}).prediction == reference.predict_one(
        "u3", "i4"
    )
    served = serving.metrics(model="live")["metrics"]
    assert served == pytest.approx({"MAE": mae.get(), "RMSE": rmse.get()}, rel=1e-9)


@pytest.mark.parametrize("factory", FACTORIES)
def test_rank_answers_the_items_best_first_as_river(factory):
    live_model(factory(), flavor="recommendation")
    rows = ratings(400)
    for x, y in rows:
        serving.learn(model="live", features=x, ground_truth=y)
    reference = fed(factory, rows)
    for user in ("u0", "u5", "newcomer"):
        ranked = serving.rank(model="live", user=user, items=ITEMS)
        assert ranked.items == reference.rank(user, ITEMS)
        assert sorted(ranked.items) == sorted(ITEMS)
    assert ranked.as_dict()["version"] == 1


def test_rank_sends_the_context_and_drops_repeated_items():
    live_model(biased_mf(), flavor="recommendation")
    rows = ratings(100)
    for x, y in rows:
        serving.learn(model="live", features=x, ground_truth=y)
    got = serving.rank(model="live", user="u1", items=["i3", "i1", "i3", "i2"], context={"weekday": 2}).items
    assert got == fed(biased_mf, rows).rank("u1", ["i3", "i1", "i2"], x={"weekday": 2})


def test_a_learn_by_id_uses_the_stored_user_and_item():
    live_model(biased_mf(), flavor="recommendation")
    serving.predict(model="live", features={"user": "u1", "item": "i2"}, id=5)
    learned = serving.learn(model="live", id=5, ground_truth=4.0)
    assert learned.features == {"user": "u1", "item": "i2"}


def test_a_restarted_process_replays_to_the_same_ratings_ranks_and_metrics(settings):
    settings.RHYTHMIC_CHECKPOINT_EVERY = 40
    live_model(biased_mf(), flavor="recommendation")
    for x, y in ratings(150):
        serving.learn(model="live", features=x, ground_truth=y)

    def state():
        return (serving.rank(model="live", user="u2", items=ITEMS).items, serving.metrics(model="live"))

    before = state()
    current().forget()
    assert state() == before


def test_two_processes_learning_in_turn_agree():
    live_model(biased_mf(), flavor="recommendation")
    processes = [ServingProcess(), ServingProcess()]
    for i, (x, y) in enumerate(ratings(80)):
        with acting_as(processes[i % 2]):
            serving.learn(model="live", features=x, ground_truth=y)
    answers = []
    for process in processes:
        with acting_as(process):
            answers.append(serving.rank(model="live", user="u4", items=ITEMS).items)
    assert answers[0] == answers[1]


@pytest.mark.parametrize(
    "features, field",
    [
        ({"item": "i1"}, "features.user"),
        ({"user": "u1"}, "features.item"),
        ({"user": ["u"], "item": "i"}, "features.user"),
    ],
)
def test_features_without_user_and_item_are_refused(features, field):
    live_model(biased_mf(), flavor="recommendation")
    with pytest.raises(InvalidInput) as caught:
        serving.predict(model="live", features=features)
    assert caught.value.field == field
    with pytest.raises(InvalidInput) as caught:
        serving.learn(model="live", features=features, ground_truth=3.0)
    assert caught.value.field == field


@pytest.mark.parametrize("ground_truth", [None, "5", [5]])
def test_a_rating_must_be_a_number(ground_truth):
    live_model(biased_mf(), flavor="recommendation")
    with pytest.raises(InvalidInput) as caught:
        serving.learn(model="live", features={"user": "u", "item": "i"}, ground_truth=ground_truth)
    assert caught.value.field == "ground_truth"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"user": None, "items": ["i1"]}, "user"),
        ({"user": 1.5, "items": ["i1"]}, "user"),
        ({"user": "u", "items": []}, "items"),
        ({"user": "u", "items": "i1"}, "items"),
        ({"user": "u", "items": ["i1", {"x": 1}]}, "items[1]"),
        ({"user": "u", "items": ["i1"], "context": [1]}, "context"),
        ({"user": "u", "items": ["i1"], "context": {"w": float("nan")}}, "context.w"),
    ],
)
def test_bad_rank_requests_are_refused(kwargs, field):
    live_model(biased_mf(), flavor="recommendation")
    with pytest.raises(InvalidInput) as caught:
        serving.rank(model="live", **kwargs)
    assert caught.value.field == field


def test_rank_on_a_model_that_is_no_recommender_is_refused():
    from river import linear_model

    live_model(linear_model.LinearRegression(), flavor="regression")
    with pytest.raises(InvalidInput, match="rank needs a recommendation model") as caught:
        serving.rank(model="live", user="u", items=["i"])
    assert caught.value.code == "wrong_flavor"


def test_rank_on_an_unknown_model_is_not_found():
    with pytest.raises(NotFound):
        serving.rank(model="ghost", user="u", items=["i"])
