"""The Monitoring page: its live configuration, history, drift points, request statistics and alerts."""

import pytest
from django.urls import reverse

import serving
from monitoring.models import Alert, AlertRule, DriftPoint, MetricSnapshot
from tests import factories

pytestmark = pytest.mark.django_db


def url(route: str, model, **kwargs) -> str:
    return reverse(f"dashboard:{route}", kwargs={"name": model.name, **kwargs})


@pytest.fixture
def firing_alert(served_model):
    rule = AlertRule.objects.create(
        model=served_model, name="mae-high", signal="metric:MAE", comparison=">", threshold=1
    )
    return Alert.objects.create(rule=rule, value=2.0, message="MAE 2 > 1 over 300 s")


def test_the_monitoring_page_tells_its_script_which_sockets_to_follow(maintainer_web, served_model):
    # when
    response = maintainer_web.get(url("monitoring", served_model))
    # then
    config = response.context["config"]
    assert response.status_code == 200
    assert config["ws_events"] == "/ws/events/?model=house-prices"
    assert config["ws_metrics"] == "/ws/models/house-prices/metrics/"
    assert config["metrics"] == ["MAE", "RMSE", "SMAPE"]
    assert config["production"] == 1
    assert 'id="monitoring-config"' in response.content.decode()


def test_the_monitoring_page_starts_its_charts_from_the_current_metrics(maintainer_web, served_model):
    # given
    serving.learn(model=served_model.name, features={"x": 1.0}, ground_truth=2.0)
    # when
    config = maintainer_web.get(url("monitoring", served_model)).context["config"]
    # then
    assert config["current"] == {"1": serving.metrics(model=served_model.name)["metrics"]}
    assert config["state_seq"] == 1


def test_the_monitoring_page_starts_its_charts_from_the_metric_history(maintainer_web, served_model):
    # given
    v1 = served_model.production_version
    MetricSnapshot.objects.create(model=served_model, version=v1, state_seq=5, metrics={"MAE": 1.5, "RMSE": 2.0})
    # when
    config = maintainer_web.get(url("monitoring", served_model)).context["config"]
    # then
    [(_at, value)] = config["history"]["MAE"]["1"]
    assert value == 1.5
    assert config["history"]["RMSE"]["1"][0][1] == 2.0


def test_the_monitoring_page_lists_drift_points(maintainer_web, served_model):
    # given
    DriftPoint.objects.create(model=served_model, version=served_model.production_version, seq=42, n_drifts=1)
    # when
    response = maintainer_web.get(url("monitoring", served_model))
    # then
    assert "#42" in response.content.decode()
    assert response.context["config"]["drift"][0]["seq"] == 42


def test_a_model_without_production_says_how_to_start_monitoring(maintainer_web):
    # given
    model = factories.MLModelFactory(name="idle")
    # when
    page = maintainer_web.get(url("monitoring", model)).content.decode()
    # then
    assert "has no production version" in page


def test_the_monitoring_page_shows_this_processs_request_statistics(maintainer_web, served_model):
    # given
    serving.predict(model=served_model.name, features={"x": 1.0})
    # when
    response = maintainer_web.get(url("monitoring", served_model))
    # then
    assert response.context["stats"]["predict"]["n_calls"] == 1


def test_the_statistics_endpoint_answers_json_for_the_latency_chart(maintainer_web, served_model):
    # given
    serving.predict(model=served_model.name, features={"x": 1.0})
    # when
    response = maintainer_web.get(url("monitoring-stats", served_model))
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "house-prices"
    assert body["routes"]["predict"]["n_calls"] == 1


def test_the_statistics_endpoint_of_an_unknown_model_answers_404(maintainer_web):
    # when
    response = maintainer_web.get(reverse("dashboard:monitoring-stats", kwargs={"name": "nope"}))
    # then
    assert response.status_code == 404


def test_the_monitoring_page_lists_alerts_with_an_acknowledge_button(maintainer_web, served_model, firing_alert):
    # when
    page = maintainer_web.get(url("monitoring", served_model)).content.decode()
    # then
    assert "MAE 2 &gt; 1 over 300 s" in page
    assert url("alert-acknowledge", served_model, alert_id=firing_alert.pk) in page


def test_acknowledging_an_alert_records_who_did_it(maintainer_web, maintainer, served_model, firing_alert):
    # when
    response = maintainer_web.post(url("alert-acknowledge", served_model, alert_id=firing_alert.pk))
    # then
    assert response.status_code == 302
    firing_alert.refresh_from_db()
    assert (firing_alert.state, firing_alert.acknowledged_by) == ("acknowledged", maintainer)


def test_acknowledging_a_resolved_alert_says_why_not(maintainer_web, served_model, firing_alert):
    # given
    Alert.objects.filter(pk=firing_alert.pk).update(state="resolved")
    # when
    response = maintainer_web.post(url("alert-acknowledge", served_model, alert_id=firing_alert.pk))
    # then
    assert response.status_code == 409
    assert "only a firing alert can be acknowledged" in response.content.decode()


def test_acknowledging_another_models_alert_answers_404(maintainer_web, firing_alert):
    # given
    other = factories.MLModelFactory(name="other")
    # when
    response = maintainer_web.post(url("alert-acknowledge", other, alert_id=firing_alert.pk))
    # then
    assert response.status_code == 404
    firing_alert.refresh_from_db()
    assert firing_alert.state == "firing"


def test_a_user_without_change_mlmodel_cannot_acknowledge_an_alert(reader_web, served_model, firing_alert):
    # when
    response = reader_web.post(url("alert-acknowledge", served_model, alert_id=firing_alert.pk))
    # then
    assert response.status_code == 403
    firing_alert.refresh_from_db()
    assert firing_alert.state == "firing"
