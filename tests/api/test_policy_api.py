"""PUT/GET/DELETE /api/v1/models/{name}/policy, its error paths, and a policy promoting a challenger."""

import random

import dill
import pytest
from river import dummy, linear_model, preprocessing
from river import stats as river_stats

import serving
from catalogue import services
from monitoring import policies, worker
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/models/{}/policy"
POLICY = {
    "auto_promote": {"window": 100, "min_improvement": 0.2, "confidence": 0.99},
    "auto_rollback": {"window": 50, "max_degradation": 0.5},
}


@pytest.fixture
def model():
    return factories.MLModelFactory(name="taxi")


def test_a_maintainer_sets_reads_and_removes_a_policy(maintainer_client, model):
    # When a maintainer PUTs a policy
    put = maintainer_client.put(URL.format("taxi"), POLICY, format="json")
    # Then it is stored as given, not yet evaluated
    assert put.status_code == 200, put.content
    body = put.json()
    assert (body["model"], body["auto_promote"], body["auto_rollback"]) == ("taxi", *POLICY.values())
    assert body["last_decision"] is None
    assert body["updated_by"] == "maintainer"
    assert maintainer_client.get(URL.format("taxi")).json() == body
    # and a PUT replaces it whole, with defaults filled in
    replaced = maintainer_client.put(
        URL.format("taxi"), {"auto_promote": {"window": 10, "min_improvement": 0}}, format="json"
    )
    assert replaced.json()["auto_promote"] == {"window": 10, "min_improvement": 0.0, "confidence": 0.95}
    assert replaced.json()["auto_rollback"] is None
    # When it is deleted, it is gone
    assert maintainer_client.delete(URL.format("taxi")).status_code == 204
    gone = maintainer_client.get(URL.format("taxi"))
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert maintainer_client.delete(URL.format("taxi")).status_code == 404


def test_the_last_decision_is_shown(maintainer_client, model):
    maintainer_client.put(URL.format("taxi"), POLICY, format="json")
    policies.evaluate(model_id=model.pk)
    decision = maintainer_client.get(URL.format("taxi")).json()["last_decision"]
    assert decision["action"] == "hold"
    assert decision["details"]["why"] == "no production version"
    assert decision["at"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"auto_promote": {"window": 5, "min_improvement": 0.1}}, "auto_promote.window"),
        ({"auto_promote": {"window": 100, "min_improvement": -1}}, "auto_promote.min_improvement"),
        ({"auto_promote": {"window": 100, "min_improvement": 0.1, "confidence": 1}}, "auto_promote.confidence"),
        ({"auto_rollback": {"window": 100, "max_degradation": 0.1, "extra": 1}}, "auto_rollback.extra"),
        ({"auto_rollback": {"window": 100}}, "auto_rollback.max_degradation"),
        ({"rollback": {"window": 100}}, "rollback"),
        ({}, None),
        ([1, 2], None),
    ],
)
def test_a_bad_policy_is_a_400_that_names_the_field(maintainer_client, model, body, field):
    response = maintainer_client.put(URL.format("taxi"), body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["field"] == field
    assert maintainer_client.get(URL.format("taxi")).status_code == 404  # nothing stored


def test_a_body_that_is_not_json_is_a_400(maintainer_client, model):
    response = maintainer_client.generic("PUT", URL.format("taxi"), "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


def test_an_anomaly_model_is_refused_a_policy(maintainer_client):
    factories.MLModelFactory(name="fraud", flavor="anomaly")
    response = maintainer_client.put(URL.format("fraud"), POLICY, format="json")
    assert response.status_code == 400
    assert "per-event loss" in response.json()["error"]["message"]


def test_an_unknown_model_is_a_404(maintainer_client):
    for method in ("get", "put", "delete"):
        response = getattr(maintainer_client, method)(URL.format("nope"), POLICY, format="json")
        assert response.status_code == 404, method
        assert "no model named 'nope'" in response.json()["error"]["message"]


def test_setting_a_policy_needs_the_promote_permission(reader_client, anon_client, model):
    refused = reader_client.put(URL.format("taxi"), POLICY, format="json")
    assert refused.status_code == 403
    assert "catalogue.change_mlmodel" in refused.json()["error"]["message"]
    assert reader_client.delete(URL.format("taxi")).status_code == 403
    assert anon_client.get(URL.format("taxi")).status_code == 401
    assert anon_client.put(URL.format("taxi"), POLICY, format="json").status_code == 401
    # reading needs only a login
    policies.policy_set(model=model, body=POLICY)
    assert reader_client.get(URL.format("taxi")).status_code == 200


@pytest.mark.django_db(transaction=True)  # monitoring's worker evaluates the policy, on its own connection
def test_the_deployment_history_says_which_entries_were_automatic(maintainer_client, model, settings):
    # Given a production that degrades under an auto_rollback policy
    settings.RHYTHMIC_POLICY_EVAL_LEARNS = 50
    v1 = factories.ModelVersionFactory(model=model)
    v2 = factories.ModelVersionFactory(model=model)
    services.deployment_promote(version=v1)
    maintainer_client.post("/api/v1/models/taxi/versions/2/promote", {"note": "by hand"}, format="json")
    rng = random.Random(1)
    items = [{"features": {"x": (x := rng.uniform(-1, 1))}, "ground_truth": 2 * x} for _ in range(200)]
    serving.learn_many(model="taxi", items=items)
    assert worker.drain()  # the evaluations those learns queued ran before the policy is set
    maintainer_client.put(URL.format("taxi"), {"auto_rollback": {"window": 25, "max_degradation": 0.5}}, format="json")
    serving.learn_many(model="taxi", items=items[:25])
    serving.learn_many(model="taxi", items=[{**item, "ground_truth": 10 - item["ground_truth"]} for item in items[:25]])
    assert worker.drain()
    # When the history is read
    history = maintainer_client.get("/api/v1/models/taxi/deployments").json()["results"]
    # Then the rollback is automatic with its reason, the promotion by hand is not
    automatic, manual = history[0], history[1]
    assert (automatic["action"], automatic["automatic"], automatic["user"]) == ("rollback", True, None)
    assert (automatic["from_version"], automatic["to_version"]) == (2, 1)
    assert automatic["reason"]["rule"] == "degradation"
    assert {"recent", "previous", "window", "degradation", "summary"} <= set(automatic["reason"])
    assert (manual["automatic"], manual["reason"], manual["note"]) == (False, {}, "by hand")
    assert manual["to_version"] == v2.number


@pytest.mark.django_db(transaction=True)
def test_a_policy_promotes_a_linear_challenger_over_a_mean_regressor(maintainer_client, settings):
    # Given a running mean in production and a scaled linear regression as its challenger
    settings.RHYTHMIC_POLICY_EVAL_LEARNS = 100
    model = factories.MLModelFactory(name="taxi")
    mean = factories.ModelVersionFactory(model=model, artifact=dill.dumps(dummy.StatisticRegressor(river_stats.Mean())))
    factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    )
    services.deployment_promote(version=mean)
    added = maintainer_client.post("/api/v1/models/taxi/challengers/", {"version": 2}, format="json")
    assert added.status_code in (200, 201), added.content
    maintainer_client.put(
        URL.format("taxi"), {"auto_promote": {"window": 100, "min_improvement": 0.2, "confidence": 0.99}}, format="json"
    )
    # When both learn a linear relation
    rng = random.Random(2)
    for _ in range(3):
        items = [{"features": {"x": (x := rng.uniform(-1, 1))}, "ground_truth": 3 * x + 1} for _ in range(100)]
        serving.learn_many(model="taxi", items=items)
    assert worker.drain()
    # Then the challenger was promoted automatically, with the paired test as evidence
    model.refresh_from_db()
    assert model.production_version.number == 2
    latest = maintainer_client.get("/api/v1/models/taxi/deployments").json()["results"][0]
    assert (latest["action"], latest["automatic"], latest["to_version"]) == ("promote", True, 2)
    reason = latest["reason"]
    assert reason["rule"] == "challenger"
    assert reason["challenger"] < 0.8 * reason["production"]  # MAE
    assert reason["p"] <= 0.01
    assert reason["window"] == 100
