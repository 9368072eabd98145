"""Promotion policies by flavor: a recommender's policy compares the absolute errors of the ratings (its MAE) and
promotes a better challenger on exactly river's numbers; forecasters, clusterers and anomaly detectors are
refused one with the reason, over the core and REST (the model page: tests/dashboard/test_policy_panel.py)."""

import math

import dill
import pytest
from river import cluster, optim, reco, time_series

import serving
from catalogue import services
from catalogue.errors import InvalidInput
from catalogue.flavors import get_flavor
from catalogue.models import Deployment
from monitoring import policies
from monitoring.models import Policy
from serving.online_metrics import event_loss
from tests import factories
from tests.serving.test_recommendation import ratings

pytestmark = pytest.mark.django_db


def slow():
    return reco.Baseline(optimizer=optim.SGD(0.0))  # learns the global mean only


def quick():
    return reco.Baseline(optimizer=optim.SGD(0.05))  # learns the users' and items' biases too


def test_a_ratings_loss_is_its_absolute_error():
    assert event_loss(get_flavor("recommendation"), 4.0, 2.5) == 1.5
    assert event_loss(get_flavor("recommendation"), 4.0, None) is None


def test_a_recommenders_policy_promotes_a_better_challenger_on_rivers_numbers():
    # Given a recommender whose challenger learns the biases that production ignores, and a policy
    model = services.model_create(name="films", flavor="recommendation")
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(slow()))
    v2 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(quick()))
    services.deployment_promote(version=v1)
    services.challenger_add(version=v2)
    policies.policy_set(model=model, body={"auto_promote": {"window": 100, "min_improvement": 0.1}})
    # When 300 ratings are learned, half of them through predict and learn by id
    stream = ratings(300, seed=5)
    for i, (x, y) in enumerate(stream):
        if i % 2:
            serving.predict(model="films", features=x, id=i)
            serving.learn(model="films", id=i, ground_truth=y)
        else:
            serving.learn(model="films", features=x, ground_truth=y)
    # Then an evaluation promotes the challenger, automatically
    assert policies.evaluate(model_id=model.pk) == Policy.Action.PROMOTE
    model.refresh_from_db()
    assert model.production_version == v2
    deployment = Deployment.objects.filter(model=model).first()
    assert (deployment.automatic, deployment.to_version) == (True, v2)
    # With each version's MAE over the window equal to river's models fed the same ratings
    losses = {1: [], 2: []}
    for number, reference in ((1, slow()), (2, quick())):
        for x, y in stream:
            extra = {k: v for k, v in x.items() if k not in ("user", "item")} or None
            losses[number].append(abs(y - reference.predict_one(x["user"], x["item"], x=extra)))
            reference.learn_one(x["user"], x["item"], y, x=extra)
    reason = deployment.reason
    assert (reason["metric"], reason["window"], reason["loss"]) == ("MAE", 100, "absolute error (of the rating)")
    assert (reason["from_seq"], reason["to_seq"]) == (201, 300)
    assert reason["production"] == pytest.approx(math.fsum(losses[1][-100:]) / 100, rel=1e-9)
    assert reason["challenger"] == pytest.approx(math.fsum(losses[2][-100:]) / 100, rel=1e-9)
    assert reason["summary"].startswith("challenger v2's MAE over the last 100 events is")


@pytest.mark.parametrize(
    ("flavor", "obj", "why"),
    [
        ("forecasting", time_series.SNARIMAX(p=1, d=0, q=0), "its metrics score each horizon step"),
        ("clustering", cluster.KMeans(n_clusters=2, seed=1), "it learns without ground truth"),
        ("anomaly", None, "ROCAUC, is not a mean of per-event losses"),
    ],
)
def test_the_flavors_without_a_per_event_loss_are_refused_a_policy_with_the_reason(flavor, obj, why):
    model = factories.MLModelFactory(name="other", flavor=flavor)
    with pytest.raises(InvalidInput, match=why) as refused:
        policies.policy_set(model=model, body={"auto_rollback": {"window": 50, "max_degradation": 0.2}})
    assert refused.value.code == "wrong_flavor"
    assert f"other is a {flavor} model" in refused.value.message
    assert "flavors that may: regression, binary, multiclass, recommendation" in refused.value.message
    assert not Policy.objects.exists()


def test_over_rest_a_forecaster_is_refused_a_policy_and_a_recommender_gets_one(maintainer_client):
    services.model_create(name="sales", flavor="forecasting")
    services.model_create(name="films", flavor="recommendation")
    body = {"auto_rollback": {"window": 50, "max_degradation": 0.2}}
    refused = maintainer_client.put("/api/v1/models/sales/policy", body, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "wrong_flavor"
    assert "its metrics score each horizon step" in refused.json()["error"]["message"]
    accepted = maintainer_client.put("/api/v1/models/films/policy", body, format="json")
    assert accepted.status_code == 200, accepted.content
