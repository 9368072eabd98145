"""The promotion-policy panel of the model page and the automatic entries of its deployment history."""

import pytest

from catalogue import services
from monitoring import policies

pytestmark = pytest.mark.django_db


def test_without_a_policy_the_panel_says_how_to_set_one(reader_web, served_model):
    page = reader_web.get("/models/house-prices/").content.decode()
    assert "No promotion policy" in page
    assert "PUT /api/v1/models/house-prices/policy" in page


def test_the_panel_shows_the_policy_and_its_last_decision(reader_web, served_model):
    policies.policy_set(
        model=served_model,
        body={
            "auto_promote": {"window": 200, "min_improvement": 0.05, "confidence": 0.99},
            "auto_rollback": {"window": 100, "max_degradation": 0.25},
        },
    )
    page = reader_web.get("/models/house-prices/").content.decode()
    assert "a challenger at least 5% better over the last 200 events scored by both" in page
    assert "paired t-test at 0.99 confidence" in page
    assert "more than 25% worse over its last 100 events" in page
    assert "Not evaluated yet" in page
    policies.evaluate(model_id=served_model.pk)
    page = reader_web.get("/models/house-prices/").content.decode()
    assert "<strong>Hold</strong>" in page


def test_an_automatic_history_entry_is_marked_with_its_reason(reader_web, served_model):
    v2 = served_model.versions.get(number=2)
    services.deployment_promote(version=v2, note="by hand")
    services.deployment_rollback(
        model=served_model, note="automatic", automatic=True, reason={"summary": "v2's MAE jumped by 80%"}
    )
    page = reader_web.get("/models/house-prices/").content.decode()
    history = page[page.index('id="history"') :]
    assert history.count(">automatic</span>") == 1
    assert "v2&#x27;s MAE jumped by 80%" in history
    assert "by the promotion policy" in history
    assert "by hand" in history


def test_the_model_page_of_a_forecaster_says_why_it_has_no_policy(reader_web):
    from river import time_series

    from tests.serving.flavor_helpers import live_model

    live_model(time_series.SNARIMAX(p=1, d=0, q=0), flavor="forecasting", name="sales")
    page = reader_web.get("/models/sales/").content.decode()
    assert "A forecasting model has no promotion policy: its metrics score each horizon step" in page
    assert "PUT /api/v1/models/sales/policy" not in page
