"""A version whose live state turns non-finite is reported: flagged on the version, announced live, alerted on."""

import dill
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from river import linear_model, preprocessing

import serving
from catalogue import services
from catalogue.errors import InvalidInput
from monitoring import alerts, events, worker
from monitoring import services as monitoring_services
from monitoring.models import Alert
from serving.process import current
from tests import factories

# The report is recorded by monitoring's worker thread, on its own connection: the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.RHYTHMIC_ALERT_EVAL_SECONDS = 3600  # only the report itself evaluates the rules


@pytest.fixture
def published(monkeypatch) -> list[dict]:
    sent: list[dict] = []
    monkeypatch.setattr(events, "publish", lambda event, **kwargs: sent.append(event))
    return sent


def poison() -> None:
    """Learn features of ±1e308: finite, accepted, and the scaler's variance overflows, so predictions are NaN."""
    serving.learn(model="live", features={"x0": 1e308}, ground_truth=1.0)
    serving.learn(model="live", features={"x0": -1e308}, ground_truth=1.0)


def predict_refused() -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        serving.predict(model="live", features={"x0": 1.0})
    assert worker.drain()  # the report is recorded off the request thread
    return refused.value


def test_a_non_finite_prediction_flags_the_version_with_the_log_position(live):
    poison()
    refused = predict_refused()
    assert refused.code == "bad_prediction"
    assert "live v1 predicted nan, not a finite number" in refused.message
    version = live.versions.get()
    assert version.non_finite_seq == 2
    assert version.non_finite_at is not None


def test_the_version_detail_shows_the_flag(live, reader_client):
    assert reader_client.get("/api/v1/models/live/versions/1/").json()["non_finite_seq"] is None
    poison()
    predict_refused()
    detail = reader_client.get("/api/v1/models/live/versions/1/").json()
    assert detail["non_finite_seq"] == 2
    assert detail["non_finite_at"]


def test_a_live_event_announces_it_once_for_every_process(live, published):
    # When the version predicts NaN again, and again after a restart (another process)
    poison()
    for _ in range(2):
        predict_refused()
    current().forget()
    predict_refused()
    # Then one non_finite event was published
    announced = [event for event in published if event["type"] == "non_finite"]
    assert announced == [{"type": "non_finite", "model": "live", "version": 1, "seq": 2, "prediction": "nan"}]


def test_a_non_finite_rule_fires_when_the_production_version_is_flagged_and_resolves_on_rollback(live):
    # Given a rule on the non_finite signal and an earlier healthy version
    rule = monitoring_services.alert_rule_create(
        model=live, name="broken state", signal="non_finite", comparison=">", threshold=0
    )
    newer = factories.ModelVersionFactory(
        model=live,
        artifact=dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression(intercept_init=1)),
    )
    services.deployment_promote(version=newer)
    # When the production version's state turns non-finite
    poison()
    predict_refused()
    # Then the rule fires at once
    alert = Alert.objects.get(rule=rule)
    assert (alert.state, alert.value) == ("firing", 1.0)
    # And rolling back to the healthy version resolves it at the next evaluation
    services.deployment_rollback(model=live)
    alerts.evaluate_rules(model="live")
    assert Alert.objects.get(rule=rule).state == "resolved"


def test_a_reported_version_costs_no_query_on_later_predictions(live):
    # Given the reference: queries of a prediction while the state is healthy (and the replica loaded)
    serving.predict(model="live", features={"x0": 1.0})
    with CaptureQueriesContext(connection) as healthy:
        serving.predict(model="live", features={"x0": 1.0})
    poison()
    predict_refused()  # the report: the flag is written once
    # When it predicts NaN again
    with CaptureQueriesContext(connection) as again:
        predict_refused()
    # Then it costs what a healthy prediction does
    assert len(again) == len(healthy)


def test_a_model_whose_output_is_not_json_is_not_reported_as_non_finite(live, monkeypatch, published):
    entry = current().replicas.entry("live")
    monkeypatch.setattr(entry.production().servable, "predict", lambda features: object())
    with pytest.raises(InvalidInput, match="cannot be sent as JSON"):
        serving.predict(model="live", features={"x0": 1.0})
    assert live.versions.get().non_finite_seq is None
    assert not [event for event in published if event["type"] == "non_finite"]
