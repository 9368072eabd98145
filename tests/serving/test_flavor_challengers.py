"""Challengers of the forecasting, clustering and recommendation flavors: each learns every event beside production
and is scored on its own predictions, exactly as river scores its model on the same stream; promoting one keeps
its learned state."""

import copy

import dill
import pytest
from river import cluster, evaluate, metrics, optim, reco, time_series

import serving
from catalogue import services
from catalogue.models import MLModel
from serving.process import current
from tests import factories
from tests.serving.flavor_helpers import airline

pytestmark = pytest.mark.django_db


def versions(name: str, flavor: str, *objs, options: dict | None = None) -> list:
    """Model ``name`` with one version per object, the first in production, the others challengers."""
    model = services.model_create(name=name, flavor=flavor, options=options)
    made = [factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj)) for obj in objs]
    services.deployment_promote(version=made[0])
    for version in made[1:]:
        services.challenger_add(version=version)
    return made


# --- recommendation ------------------------------------------------------------------------------


def baseline():
    return reco.Baseline(optimizer=optim.SGD(0.005))


def funk():
    return reco.FunkMF(n_factors=4, optimizer=optim.SGD(0.05), seed=1)


def ratings(n: int = 150) -> list[tuple[dict, float]]:
    """The generated ratings of the recommendation tests (each user likes items near its own index)."""
    from tests.serving.test_recommendation import ratings as generated

    return [({"user": x["user"], "item": x["item"]}, y) for x, y in generated(n, seed=3)]


def river_reco_scores(model, stream) -> dict:
    """MAE and RMSE of ``model``'s rating predicted before it learns each one (river's progressive validation)."""
    model, mae, rmse = copy.deepcopy(model), metrics.MAE(), metrics.RMSE()
    for x, y in stream:
        prediction = model.predict_one(x["user"], x["item"])
        mae.update(y, prediction)
        rmse.update(y, prediction)
        model.learn_one(x["user"], x["item"], y)
    return {"MAE": mae.get(), "RMSE": rmse.get()}


def assert_scores(served: dict, expected: dict) -> None:
    assert served.keys() == expected.keys()
    for name, value in expected.items():
        assert served[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("with_ids", [True, False], ids=["with ids", "without ids"])
def test_a_recommenders_challenger_is_scored_on_its_own_ratings_as_river(with_ids):
    # Given a Baseline in production and a FunkMF challenger
    versions("films", "recommendation", baseline(), funk())
    stream = ratings()
    # When the ratings go through predict -> learn by id (or learn with the features)
    for i, (x, y) in enumerate(stream):
        if with_ids:
            serving.predict(model="films", features=x, id=i)
            serving.learn(model="films", id=i, ground_truth=y)
        else:
            serving.learn(model="films", features=x, ground_truth=y)
    # Then each version's MAE and RMSE are river's on its own model, to 1e-9
    for number, model in ((1, baseline()), (2, funk())):
        served = serving.metrics(model="films", version=number)
        assert served["n_learned"] == len(stream)
        assert_scores(served["metrics"], river_reco_scores(model, stream))


def test_a_promoted_recommender_challenger_ranks_with_what_it_learned():
    # Given a FunkMF challenger that learned every rating beside production
    _, challenger = versions("films", "recommendation", baseline(), funk())
    stream = ratings()
    serving.learn_many(model="films", items=[{"features": x, "ground_truth": y} for x, y in stream])
    # When it is promoted and the process restarts (checkpoint + replay)
    services.deployment_promote(version=challenger)
    current().reset()
    # Then it ranks as the river model trained on the same ratings
    trained = funk()
    for x, y in stream:
        trained.learn_one(x["user"], x["item"], y)
    user = stream[0][0]["user"]
    items = list(dict.fromkeys(x["item"] for x, _ in stream[:20]))
    answer = serving.rank(model="films", user=user, items=items)
    assert answer.version == 2
    assert answer.items == trained.rank(user, items)


# --- forecasting ---------------------------------------------------------------------------------


def test_a_forecasters_challenger_has_rivers_per_step_metrics_on_its_own_model():
    # Given a SNARIMAX in production and a seasonal one as challenger, horizon 3
    production = time_series.SNARIMAX(p=1, d=1, q=0)
    challenger = time_series.SNARIMAX(p=2, d=1, q=1, m=12, sp=1)
    versions("sales", "forecasting", production, challenger, options={"horizon": 3})
    stream = airline(60)
    # When the series is learned
    for x, y in stream:
        serving.learn(model="sales", features=x, ground_truth=y)
    # Then each version's per-step metrics are river.evaluate's on its own model
    for number, model in ((1, production), (2, challenger)):
        expected = evaluate.evaluate(stream, copy.deepcopy(model), metrics.MAE(), horizon=3)
        served = serving.metrics(model="sales", version=number)["metrics"]["MAE"]
        assert served == pytest.approx(expected.get(), rel=1e-9)


def test_a_promoted_forecaster_challenger_forecasts_with_what_it_learned():
    _, challenger = versions(
        "sales", "forecasting", time_series.SNARIMAX(p=1, d=1, q=0), time_series.SNARIMAX(p=2, d=1, q=1)
    )
    stream = airline(40)
    for x, y in stream:
        serving.learn(model="sales", features=x, ground_truth=y)
    services.deployment_promote(version=challenger)
    trained = time_series.SNARIMAX(p=2, d=1, q=1)
    for x, y in stream:
        trained.learn_one(y=y, x=x)
    xs = [{"month": m} for m in (5, 6)]
    answer = serving.predict(model="sales", features=xs, horizon=2)
    assert answer.version == 2
    assert answer.prediction == trained.forecast(2, xs=xs)


# --- clustering ----------------------------------------------------------------------------------


def test_a_clusterers_challenger_counts_its_own_clusters():
    # Given KMeans with 2 clusters in production, and a 3-cluster one as challenger
    production, challenger = cluster.KMeans(n_clusters=2, seed=1), cluster.KMeans(n_clusters=3, seed=2)
    versions("groups", "clustering", production, challenger)
    points = [{"a": float(i % 7), "b": float(i % 3)} for i in range(60)]
    # When the points are learned, some by id
    for i, x in enumerate(points):
        if i % 2:
            serving.predict(model="groups", features=x, id=i)
            serving.learn(model="groups", id=i)
        else:
            serving.learn(model="groups", features=x)
    # Then each version's sizes count the cluster its own model gave each point before learning it
    for number, model in ((1, production), (2, challenger)):
        model, sizes = copy.deepcopy(model), {}
        for x in points:
            key = f"cluster_{model.predict_one(x)}"
            sizes[key] = sizes.get(key, 0) + 1
            model.learn_one(x)
        served = serving.metrics(model="groups", version=number)["metrics"]
        assert {k: v for k, v in served.items() if k.startswith("cluster_")} == sizes
        assert served["n_clusters"] == len(sizes)


def test_the_challengers_are_the_models_own():
    # The challengers above learn beside production: the catalogue lists them as its challengers
    _, v2 = versions("films", "recommendation", baseline(), funk())
    assert list(MLModel.objects.get(name="films").challengers.values_list("version", flat=True)) == [v2.pk]
