"""ServingProcess: the one holder of a process's serving state, its reset, and the interface others read."""

from datetime import timedelta

import dill
import pytest
from django.utils import timezone

import serving
from catalogue import services
from catalogue.errors import InvalidInput
from monitoring import alerts
from monitoring import services as monitoring_services
from serving.models import PendingPrediction
from serving.process import LoadedModel, ServingProcess, acting_as, current
from tests import factories

pytestmark = pytest.mark.django_db


def live_model(name="live"):
    model = factories.MLModelFactory(name=name)
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor()))
    services.deployment_promote(version=version)
    return model


def test_loaded_lists_the_models_with_their_applied_seq_and_loaded_versions():
    # Given a model that learned twice here
    live_model()
    serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
    serving.learn(model="live", features={"x": 1.0}, ground_truth=3.0)
    # Then the process reports it loaded, at seq 2, with its version 1
    loaded = current().loaded()
    assert loaded == {"live": LoadedModel("live", loaded["live"].model_id, 2, (1,))}


def test_lag_counts_what_this_process_has_not_applied_and_is_none_for_a_model_it_does_not_hold():
    live_model()
    serving.predict(model="live", features={"x": 1.0})
    with acting_as(ServingProcess()):  # another process learns
        serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
    assert current().lag(model="live", head=1) == 1
    assert current().lag(model="ghost", head=5) is None


def test_a_call_is_recorded_once_where_route_stats_and_the_alert_window_both_read_it():
    # Given an answered and a refused predict
    live_model()
    serving.predict(model="live", features={"x": 1.0})
    with pytest.raises(InvalidInput):
        serving.predict(model="live", features=[1])
    errors = monitoring_services.alert_rule_create(
        model="live", name="errors", signal="error_rate", comparison=">", threshold=0.1
    )
    # Then the route stats count the answered one and the alert window sees both
    assert serving.route_stats(model="live")["predict"]["n_calls"] == 1
    assert [call.error for call in current().recent_calls(model="live", seconds=60)] == [False, True]
    assert alerts.signal_value(errors) == 0.5
    # When the process's timings are reset, then the alert window is empty too: it has no copy of its own
    current().reset()
    assert serving.route_stats(model="live") == {}
    assert alerts.signal_value(errors) is None


def test_reset_starts_the_pending_sweep_afresh(settings):
    # Given a process that swept the pending predictions a moment ago (its first store)
    settings.RHYTHMIC_PENDING_SWEEP_SECONDS = 3600
    live_model()
    serving.predict(model="live", features={"x": 1.0}, id="old")
    PendingPrediction.objects.update(created_at=timezone.now() - timedelta(seconds=settings.RHYTHMIC_PENDING_TTL + 1))
    serving.predict(model="live", features={"x": 1.0}, id="kept-while-not-due")
    assert PendingPrediction.objects.count() == 2
    # When it is reset (as a freshly started process), then its next store sweeps the expired one
    current().reset()
    serving.predict(model="live", features={"x": 1.0}, id="new")
    assert sorted(PendingPrediction.objects.values_list("key", flat=True)) == ['"kept-while-not-due"', '"new"']
