"""Promotion policies: the statistics on loss arrays, the per-event losses, validation, and evaluation on the
learn log (a degraded production is rolled back; a drift with a better previous version is too)."""

import math
import random
import statistics

import dill
import pytest
from django.conf import settings as django_settings
from river import dummy, linear_model, preprocessing
from river import stats as river_stats
from scipy import stats as scipy_stats

import serving
from catalogue import services
from catalogue.errors import InvalidInput
from catalogue.flavors import get_flavor
from catalogue.models import Deployment
from monitoring import live, policies, worker
from monitoring import services as monitoring_services
from monitoring.models import Alert, Policy
from monitoring.tasks import evaluate_policies, evaluate_policy
from serving.online_metrics import event_loss
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quiet_alerts(settings):
    settings.RHYTHMIC_ALERT_EVAL_SECONDS = 3600  # alert rules stay out of the way


class Recorder:
    """A live-event sink that keeps what monitoring publishes."""

    def __init__(self):
        self.events = []

    def publish(self, event, *, model=None, sample=True):
        self.events.append(event)

    def publish_metrics(self, model, payload):
        pass


@pytest.fixture
def published():
    recorder = Recorder()
    live.subscribe(recorder)
    yield recorder.events
    live._sinks.remove(recorder)


# --- the decision functions on synthetic losses ----------------------------------------------------


def noisy(n: int, *, mean: float, spread: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [abs(rng.gauss(mean, spread)) for _ in range(n)]


def test_a_clearly_better_challenger_is_promoted_with_the_paired_t_test_as_evidence():
    # Given production's losses and a challenger's that are about half of them, event by event
    production = noisy(200, mean=1.0, spread=0.3, seed=1)
    rng = random.Random(2)
    challenger = [loss * 0.5 + abs(rng.gauss(0, 0.05)) for loss in production]
    # When the decision is taken at 95%
    decision = policies.decide_promote(production, challenger, min_improvement=0.2, confidence=0.95)
    # Then it promotes, and its t and p are the paired t-test's on the differences
    differences = [p - c for p, c in zip(production, challenger, strict=True)]
    t = statistics.mean(differences) / (statistics.stdev(differences) / math.sqrt(len(differences)))
    assert decision.act
    assert decision.details["t"] == pytest.approx(t, rel=1e-9)
    assert decision.details["p"] == pytest.approx(scipy_stats.t.sf(t, len(differences) - 1), rel=1e-9, abs=1e-300)
    assert decision.details["improvement"] == pytest.approx(
        1 - statistics.mean(challenger) / statistics.mean(production), rel=1e-9
    )
    assert decision.details["window"] == 200
    assert decision.details["significant"] is True


def test_a_significant_improvement_smaller_than_min_improvement_is_not_promoted():
    # Given a challenger that is consistently 5% better
    production = noisy(500, mean=1.0, spread=0.3, seed=3)
    challenger = [loss * 0.95 for loss in production]
    # When the policy asks for 10%
    decision = policies.decide_promote(production, challenger, min_improvement=0.10, confidence=0.95)
    # Then the test is significant but the improvement too small: no promotion
    assert decision.details["significant"] is True
    assert decision.details["improvement"] == pytest.approx(0.05)
    assert not decision.act


def test_a_large_but_noisy_improvement_that_is_not_significant_is_not_promoted():
    # Given losses whose difference is mostly noise on few events
    production = noisy(12, mean=1.0, spread=1.0, seed=4)
    challenger = noisy(12, mean=0.8, spread=1.0, seed=5)
    # When the decision is taken at 99%
    decision = policies.decide_promote(production, challenger, min_improvement=0.0, confidence=0.99)
    # Then the p-value is above 1%: no promotion
    assert decision.details["p"] > 0.01
    assert not decision.act


def test_a_worse_challenger_is_never_promoted_whatever_the_confidence():
    production = noisy(100, mean=0.5, spread=0.1, seed=6)
    challenger = [loss * 2 for loss in production]
    decision = policies.decide_promote(production, challenger, min_improvement=0.0, confidence=0.5)
    assert not decision.act
    assert decision.details["p"] > 0.5


def test_identical_losses_have_no_evidence_and_constant_better_ones_have_certainty():
    same = [0.0, 1.0, 1.0, 0.0, 1.0] * 4
    tie = policies.decide_promote(same, same, min_improvement=0.0, confidence=0.95)
    assert (tie.act, tie.details["t"], tie.details["p"]) == (False, 0.0, 1.0)
    # Every event exactly 0.5 better: no variance, an infinite t (null in JSON), p = 0
    better = [loss + 0.5 for loss in same]
    certain = policies.decide_promote(better, same, min_improvement=0.1, confidence=0.95)
    assert (certain.act, certain.details["t"], certain.details["p"]) == (True, None, 0.0)


def test_a_perfect_production_cannot_be_beaten():
    decision = policies.decide_promote([0.0] * 20, [0.0] * 20, min_improvement=0.0, confidence=0.5)
    assert not decision.act
    assert decision.details["improvement"] == 0.0


def test_decide_promote_refuses_unpaired_arrays():
    with pytest.raises(ValueError, match="paired"):
        policies.decide_promote([1.0, 2.0], [1.0], min_improvement=0.0, confidence=0.9)


def test_a_recent_window_worse_than_the_previous_by_more_than_max_degradation_rolls_back():
    previous = noisy(50, mean=1.0, spread=0.1, seed=7)
    recent = [loss * 1.5 for loss in previous]
    decision = policies.decide_rollback(recent, previous, max_degradation=0.2)
    assert decision.act
    assert decision.details["degradation"] == pytest.approx(0.5)
    assert decision.details["recent_loss"] == pytest.approx(1.5 * statistics.mean(previous))


def test_a_degradation_within_max_degradation_does_not_roll_back():
    previous = noisy(50, mean=1.0, spread=0.1, seed=8)
    recent = [loss * 1.1 for loss in previous]
    assert not policies.decide_rollback(recent, previous, max_degradation=0.2).act
    # and an improvement never does, even with no tolerance
    assert not policies.decide_rollback(previous, recent, max_degradation=0.0).act


def test_errors_after_a_perfect_window_are_infinitely_worse():
    decision = policies.decide_rollback([0.0, 1.0], [0.0, 0.0], max_degradation=1000)
    assert decision.act
    assert decision.details["degradation"] is None  # infinity has no JSON


# --- per-event losses -------------------------------------------------------------------------------


def test_the_per_event_loss_is_the_headline_metrics_own():
    # Regression: MAE, so the absolute error
    assert event_loss(get_flavor("regression"), 3.0, 1.5) == 1.5
    assert event_loss(get_flavor("regression"), 1.0, float("nan")) is None
    # Binary and multi-class: Accuracy, so the 0/1 error of the most probable class
    assert event_loss(get_flavor("binary"), True, {True: 0.7, False: 0.3}) == 0.0
    assert event_loss(get_flavor("binary"), False, {True: 0.7, False: 0.3}) == 1.0
    assert event_loss(get_flavor("multiclass"), "b", {"a": 0.2, "b": 0.5, "c": 0.3}) == 0.0
    assert event_loss(get_flavor("multiclass"), "a", "c") == 1.0
    # No label or no prediction: no loss; anomaly scores (ROCAUC) have none at all
    assert event_loss(get_flavor("binary"), None, {True: 1.0}) is None
    assert event_loss(get_flavor("regression"), 1.0, None) is None
    assert event_loss(get_flavor("anomaly"), True, 0.9) is None


def test_the_mean_per_event_loss_equals_rivers_mae_and_accuracy():
    from river import metrics

    rng = random.Random(9)
    mae, accuracy = metrics.MAE(), metrics.Accuracy()
    regression, classification = [], []
    for _ in range(100):
        y, p = rng.uniform(-5, 5), rng.uniform(-5, 5)
        mae.update(y, p)
        regression.append(event_loss(get_flavor("regression"), y, p))
        label, proba = rng.random() < 0.5, {True: rng.random(), False: rng.random()}
        accuracy.update(label, max(proba, key=proba.get))
        classification.append(event_loss(get_flavor("binary"), label, proba))
    assert math.fsum(regression) / 100 == pytest.approx(mae.get(), abs=1e-9)
    assert 1 - math.fsum(classification) / 100 == pytest.approx(accuracy.get(), abs=1e-9)


# --- validation --------------------------------------------------------------------------------------


def test_a_policy_gets_its_defaults_filled_in():
    cleaned = policies.clean_policy({"auto_promote": {"window": 100, "min_improvement": 0.05}})
    assert cleaned == {
        "auto_promote": {"window": 100, "min_improvement": 0.05, "confidence": 0.95},
        "auto_rollback": None,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"auto_promote": {"window": 9, "min_improvement": 0}}, "auto_promote.window"),
        ({"auto_promote": {"window": 100001, "min_improvement": 0}}, "auto_promote.window"),
        ({"auto_promote": {"window": 10.5, "min_improvement": 0}}, "auto_promote.window"),
        ({"auto_promote": {"window": True, "min_improvement": 0}}, "auto_promote.window"),
        ({"auto_promote": {"window": "50", "min_improvement": 0}}, "auto_promote.window"),
        ({"auto_promote": {"window": 50, "min_improvement": -0.1}}, "auto_promote.min_improvement"),
        ({"auto_promote": {"window": 50, "min_improvement": "1"}}, "auto_promote.min_improvement"),
        ({"auto_promote": {"window": 50, "min_improvement": 0, "confidence": 1.0}}, "auto_promote.confidence"),
        ({"auto_promote": {"window": 50, "min_improvement": 0, "confidence": 0.49}}, "auto_promote.confidence"),
        ({"auto_promote": {"window": 50, "min_improvement": 0, "alpha": 0.1}}, "auto_promote.alpha"),
        ({"auto_promote": {"min_improvement": 0}}, "auto_promote.window"),
        ({"auto_promote": [50]}, "auto_promote"),
        ({"auto_rollback": {"window": 50}}, "auto_rollback.max_degradation"),
        ({"auto_rollback": {"window": 50, "max_degradation": float("inf")}}, "auto_rollback.max_degradation"),
        ({"auto_rollback": {"window": 50, "max_degradation": 0.1, "confidence": 0.9}}, "auto_rollback.confidence"),
        ({"auto_demote": {}}, "auto_demote"),
        ({}, None),
        ({"auto_promote": None, "auto_rollback": None}, None),
        ([], None),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(body, field):
    with pytest.raises(InvalidInput) as refused:
        policies.clean_policy(body)
    assert refused.value.field == field


def test_an_anomaly_model_cannot_have_a_policy():
    model = factories.MLModelFactory(name="fraud", flavor="anomaly")
    with pytest.raises(InvalidInput, match="per-event loss"):
        policies.policy_set(model=model, body={"auto_rollback": {"window": 50, "max_degradation": 0.2}})


# --- evaluation on the learn log -------------------------------------------------------------------


def linear_bytes(intercept: float = 0.0) -> bytes:
    return dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression(intercept_init=intercept))


@pytest.fixture
def two_versions():
    """A regression model "drifting": v1 then v2 promoted (so a rollback goes back to v1)."""
    model = factories.MLModelFactory(name="drifting")
    v1 = factories.ModelVersionFactory(model=model, artifact=linear_bytes(0.0))
    v2 = factories.ModelVersionFactory(model=model, artifact=linear_bytes(0.001))
    services.deployment_promote(version=v1)
    services.deployment_promote(version=v2)
    return model, v1, v2


def stream(n: int, relation, *, seed: int) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        x = rng.uniform(-1, 1)
        items.append({"features": {"x": x}, "ground_truth": relation(x)})
    return items


def learn(model: str, items: list[dict], batch: int = 25) -> None:
    for start in range(0, len(items), batch):
        results = serving.learn_many(model=model, items=items[start : start + batch])
        assert all("error" not in r for r in results), results


@pytest.mark.django_db(transaction=True)  # monitoring's worker evaluates, on its own connection
def test_a_production_whose_loss_jumps_is_rolled_back_automatically(two_versions, settings, published):
    # Given v2 in production that has learned y = 2x + 1 well, and a policy watching 50-event windows
    model, v1, v2 = two_versions
    settings.RHYTHMIC_POLICY_EVAL_LEARNS = 100
    learn("drifting", stream(300, lambda x: 2 * x + 1, seed=1))
    assert worker.drain()  # the evaluations those learns queued ran (without a policy) before it is set
    policies.policy_set(model=model, body={"auto_rollback": {"window": 50, "max_degradation": 0.5}})
    # When 50 more events follow the same relation and then 50 follow another (y = -3x + 5)
    learn("drifting", stream(50, lambda x: 2 * x + 1, seed=2))
    assert worker.drain()
    assert Policy.objects.get(model=model).decided_at is None  # 50 learns: not evaluated yet
    learn("drifting", stream(50, lambda x: -3 * x + 5, seed=3))
    assert worker.drain()
    # Then the 100th learn's evaluation rolled production back to v1, automatically
    model.refresh_from_db()
    assert model.production_version == v1
    deployment = Deployment.objects.filter(model=model).first()
    assert (deployment.action, deployment.automatic, deployment.from_version, deployment.to_version) == (
        "rollback",
        True,
        v2,
        v1,
    )
    assert deployment.user is None
    reason = deployment.reason
    assert reason["rule"] == "degradation"
    assert reason["metric"] == "MAE"
    assert reason["window"] == 50
    assert reason["policy"] == {"window": 50, "max_degradation": 0.5}
    assert reason["recent"] > 5 * reason["previous"]  # the MAE over each window
    assert reason["degradation"] > 0.5
    assert (reason["from_seq"], reason["to_seq"]) == (301, 400)
    assert deployment.note.startswith("automatic: v2's MAE over its last 50 events is")
    # and the decision, a live event and an alert say so
    policy = Policy.objects.get(model=model)
    assert policy.decision == "rollback"
    assert policy.details["to_version"] == 1
    assert policy.since_seq == 400  # later windows are v1's own events
    [event] = [e for e in published if e["type"] == "policy"]
    assert (event["action"], event["from_version"], event["to_version"]) == ("rollback", 2, 1)
    assert event["reason"]["summary"] == reason["summary"]
    alert = Alert.objects.get(rule__model=model, rule__signal="policy")
    assert alert.state == "firing"
    assert "automatic rollback to v1" in alert.message
    assert any(e["type"] == "alert" and e["state"] == "firing" for e in published)


@pytest.mark.django_db(transaction=True)
def test_a_stable_production_is_not_rolled_back_and_the_hold_is_recorded(two_versions, settings):
    model, _, v2 = two_versions
    settings.RHYTHMIC_POLICY_EVAL_LEARNS = 100
    learn("drifting", stream(300, lambda x: 2 * x + 1, seed=1))
    assert worker.drain()
    policies.policy_set(model=model, body={"auto_rollback": {"window": 50, "max_degradation": 0.5}})
    learn("drifting", stream(100, lambda x: 2 * x + 1, seed=4))
    assert worker.drain()
    model.refresh_from_db()
    assert model.production_version == v2
    policy = Policy.objects.get(model=model)
    assert policy.decision == "hold"
    assert policy.details["head"] == 400
    assert not Deployment.objects.filter(model=model, automatic=True).exists()


@pytest.mark.django_db(transaction=True)
def test_the_evaluation_runs_once_per_n_learns_of_the_model(two_versions, settings):
    model, _, _ = two_versions
    settings.RHYTHMIC_POLICY_EVAL_LEARNS = 10
    policies.policy_set(model=model, body={"auto_rollback": {"window": 10, "max_degradation": 0.5}})

    def learned(n, seed):
        learn("drifting", stream(n, lambda x: x, seed=seed), batch=1)
        assert worker.drain()
        return Policy.objects.get(model=model).decided_at

    assert learned(9, seed=5) is None
    first = learned(1, seed=6)
    assert first is not None
    assert learned(9, seed=7) == first
    assert learned(1, seed=8) > first


def test_a_drift_of_production_with_a_better_previous_version_rolls_back(settings):
    # Given v1, a linear model that learned y = 2x well, then v2 (a running mean) promoted over it
    settings.RHYTHMIC_POLICY_EVAL_LEARNS = 10**9  # evaluated by hand below
    model = factories.MLModelFactory(name="meanie")
    v1 = factories.ModelVersionFactory(model=model, artifact=linear_bytes())
    v2 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(dummy.StatisticRegressor(river_stats.Mean())))
    services.deployment_promote(version=v1)
    learn("meanie", stream(300, lambda x: 2 * x, seed=9))
    services.deployment_promote(version=v2)
    # a policy that tolerates any degradation of v2 against itself
    policies.policy_set(model=model, body={"auto_rollback": {"window": 50, "max_degradation": 1000}})
    learn("meanie", stream(60, lambda x: 2 * x, seed=10))
    assert policies.evaluate(model_id=model.pk) == "hold"  # no drift recorded yet
    # When v2's drift detector fires within the window (as the serving core records it)
    monitoring_services.drift_point_record(model_id=model.pk, version_id=v2.pk, seq=350, n_drifts=1)
    decision = evaluate_policy(model.pk)  # the Celery task (inline here)
    # Then v2 is rolled back to v1, whose MAE was better
    model.refresh_from_db()
    assert decision == "rollback"
    assert model.production_version == v1
    reason = Deployment.objects.filter(model=model).first().reason
    assert reason["rule"] == "drift"
    assert reason["drift_seq"] == 350
    assert reason["previous_version"] == 1
    assert reason["previous_version_metric"] < reason["recent"]


def test_a_drift_is_not_enough_when_the_previous_version_was_worse(settings):
    settings.RHYTHMIC_POLICY_EVAL_LEARNS = 10**9
    model = factories.MLModelFactory(name="better")
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(dummy.StatisticRegressor(river_stats.Mean())))
    v2 = factories.ModelVersionFactory(model=model, artifact=linear_bytes())
    services.deployment_promote(version=v1)
    learn("better", stream(100, lambda x: 2 * x, seed=11))
    services.deployment_promote(version=v2)
    policies.policy_set(model=model, body={"auto_rollback": {"window": 50, "max_degradation": 1000}})
    learn("better", stream(300, lambda x: 2 * x, seed=12))
    monitoring_services.drift_point_record(model_id=model.pk, version_id=v2.pk, seq=390, n_drifts=1)
    assert policies.evaluate(model_id=model.pk) == "hold"
    model.refresh_from_db()
    assert model.production_version == v2


def test_a_manual_promotion_restarts_the_windows(two_versions, django_capture_on_commit_callbacks):
    model, _, _ = two_versions
    policies.policy_set(model=model, body={"auto_rollback": {"window": 10, "max_degradation": 0.5}})
    learn("drifting", stream(30, lambda x: x, seed=13))
    assert Policy.objects.get(model=model).since_seq == 0
    with django_capture_on_commit_callbacks(execute=True):
        services.deployment_rollback(model=model)
    assert Policy.objects.get(model=model).since_seq == 30


def test_beat_evaluates_every_policy_and_a_model_without_a_policy_is_skipped(two_versions):
    model, _, _ = two_versions
    other = factories.MLModelFactory(name="quiet")
    policies.policy_set(model=model, body={"auto_promote": {"window": 10, "min_improvement": 0.1}})
    assert evaluate_policies() == {"drifting": "hold"}
    assert evaluate_policy(other.pk) is None
    assert "monitoring-evaluate-policies" in django_settings.CELERY_BEAT_SCHEDULE


def test_a_second_automatic_action_resolves_the_previous_alert(two_versions):
    model, _, _ = two_versions
    first = monitoring_services.alert_raise_policy(model=model, message="first")
    second = monitoring_services.alert_raise_policy(model=model, message="second")
    first.refresh_from_db()
    assert (first.state, second.state) == ("resolved", "firing")
    # a disabled rule silences them
    monitoring_services.alert_rule_update(rule=second.rule, enabled=False)
    assert monitoring_services.alert_raise_policy(model=model, message="third") is None
