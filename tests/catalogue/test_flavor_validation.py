"""Validation checks each new flavor's interface, with a report that says what is missing."""

import dill
import pytest
from river import anomaly, cluster, linear_model, optim, reco, time_series

from catalogue import services, validation
from tests import factories

pytestmark = pytest.mark.django_db


class NoRank:
    """predict_one(user, item) and learn_one, but no rank: not a recommender."""

    def predict_one(self, user, item, x=None):
        return 0.0

    def learn_one(self, user, item, y, x=None):
        pass


class OneArgForecast:
    def forecast(self):
        return []

    def learn_one(self, y, x=None):
        pass


def report(flavor: str, obj, input_example=None) -> dict:
    model = services.model_create(name=f"m-{flavor}", flavor=flavor)
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj), input_example=input_example)
    return validation.run_checks(version)


@pytest.mark.parametrize(
    "flavor, obj, example",
    [
        ("forecasting", time_series.SNARIMAX(p=1, d=0, q=0), None),
        ("clustering", cluster.KMeans(n_clusters=2, seed=1), {"a": 1.0}),
        ("recommendation", reco.BiasedMF(n_factors=2, seed=1, latent_optimizer=optim.SGD(0.01)), None),
        ("anomaly", anomaly.HalfSpaceTrees(seed=1), {"a": 0.5}),
    ],
)
def test_models_of_each_flavor_pass(flavor, obj, example):
    found = report(flavor, obj, example)
    assert found["ok"], found["summary"]


@pytest.mark.parametrize(
    "flavor, obj, message",
    [
        ("forecasting", linear_model.LinearRegression(), "needs a river time_series.base.Forecaster"),
        ("forecasting", OneArgForecast(), "forecast must take 1 positional argument"),
        ("clustering", linear_model.LinearRegression(), "needs a river Clusterer"),
        ("recommendation", NoRank(), "must implement rank"),
        ("recommendation", linear_model.LinearRegression(), "needs a river reco.base.Ranker"),
    ],
)
def test_models_without_the_flavors_interface_fail_with_a_reason(flavor, obj, message):
    found = report(flavor, obj)
    assert not found["ok"]
    interface = next(c for c in found["checks"] if c["name"] == "interface")
    assert interface["status"] == "failed"
    assert message in interface["detail"]
