"""The pages in a real browser against a real server: the catalogue workflow, live monitoring, tokens."""

import re

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def regressor(intercept: float = 0.0) -> bytes:
    return factories.artifact_bytes(factories.river_regressor(intercept))


def api_model_in_production(site, name: str, versions: int = 1) -> None:
    """Through the REST API: a regression model with ``versions`` versions, each promoted in turn."""
    assert site.api.post(f"{site.url}/api/v1/models/", json={"name": name, "flavor": "regression"}).ok
    for number in range(1, versions + 1):
        uploaded = site.api.post(
            f"{site.url}/api/v1/models/{name}/versions/",
            data=regressor(intercept=number / 10),
            params={"message": f"version {number}", "input_example": '{"x": 1.0}'},
            headers={"Content-Type": "application/octet-stream"},
        )
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["status"] == "ready", uploaded.text
        promoted = site.api.post(f"{site.url}/api/v1/models/{name}/versions/{number}/promote", json={})
        assert promoted.ok, promoted.text


def mark_page(page) -> None:
    """A flag that a reload would lose: checking it later proves the page updated in place."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__notReloaded === true")


def test_a_user_creates_a_model_uploads_a_version_and_promotes_it(page, tmp_path):
    # given an empty catalogue
    artifact = tmp_path / "taxi.dill"
    artifact.write_bytes(regressor())
    expect(page.get_by_role("heading", name="No models yet")).to_be_visible()
    # when the user creates a model
    page.get_by_role("link", name="Create your first model").click()
    page.get_by_label("Name").fill("taxi")
    page.get_by_label("Flavor").select_option("regression")
    page.get_by_label("Description").fill("Trip durations in New York")
    page.get_by_label("Metadata").fill("team: mobility")
    page.get_by_role("button", name="Create model").click()
    # and uploads a version
    expect(page).to_have_url(re.compile(r"/models/taxi/versions/new/$"))
    page.get_by_label("Artifact").set_input_files(artifact)
    page.get_by_label("Message").fill("first linear model")
    page.get_by_label("Input example (JSON)").fill('{"x": 1.5}')
    page.get_by_role("button", name="Upload").click()
    # then validation has finished and says so
    expect(page.get_by_text("Uploaded v1: it passed validation and can be promoted.")).to_be_visible()
    expect(page.locator("#v1 [data-version-status]")).to_have_text("ready")
    # when the user promotes it and confirms
    page.get_by_role("link", name="Promote v1").click()
    page.get_by_label("Note").fill("first release")
    page.get_by_role("button", name="Promote v1").click()
    # then it is in production, with the history saying who did it
    expect(page.get_by_text("taxi v1 is in production.")).to_be_visible()
    expect(page.locator("[data-production]")).to_have_text("v1")
    expect(page.locator("#history")).to_contain_text("by pilot")
    expect(page.locator("#history")).to_contain_text("first release")


def test_an_upload_that_fails_validation_shows_the_reason(page, site, tmp_path):
    # given
    api_model_in_production(site, "taxi")
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"this is not a pickle")
    page.goto("/models/taxi/versions/new/")
    # when
    page.get_by_label("Artifact").set_input_files(broken)
    page.get_by_label("Format").select_option("pickle")
    page.get_by_role("button", name="Upload").click()
    # then
    expect(page.locator(".message-error")).to_contain_text("Uploaded v2, but it failed validation: load:")
    expect(page.locator("#v2 details")).to_have_attribute("open", "")
    expect(page.locator("#v2 .checks")).to_contain_text("could not load the bytes as pickle")


def test_the_dashboard_shows_validation_finishing_without_a_reload(page, site):
    # given a version waiting for a worker
    site.shell(
        "from catalogue import services\n"
        "from tests import factories\n"
        "model = services.model_create(name='taxi', flavor='regression')\n"
        "services.model_version_register(model=model, data=factories.artifact_bytes(), validate=False)\n"
    )
    page.goto("/models/taxi/")
    expect(page.locator("#v1 [data-version-status]")).to_have_text("pending")
    mark_page(page)
    # when a worker validates it
    site.shell(
        "from catalogue import services\n"
        "from catalogue.models import ModelVersion\n"
        "services.model_version_validate(version_id=ModelVersion.objects.get(model__name='taxi').pk)\n"
    )
    # then the page shows the result
    expect(page.locator("#v1 [data-version-status]")).to_have_text("ready")
    expect(page.locator("#v1")).to_contain_text("all checks passed")
    assert_not_reloaded(page)


def test_the_monitoring_page_follows_predictions_and_learns_live(page, site):
    # given a model in production and its Monitoring page, connected
    api_model_in_production(site, "taxi")
    page.goto("/models/taxi/monitoring/")
    expect(page.locator("#conn-state")).to_have_attribute("data-conn", "live")
    mark_page(page)
    mae = page.locator("figure[data-metric='MAE']")
    before = int(mae.get_attribute("data-points"))
    # when clients predict and learn through the API
    for i in range(10):
        predicted = site.api.post(f"{site.url}/api/v1/models/taxi/predict", json={"features": {"x": i}, "id": i})
        assert predicted.ok, predicted.text
        learned = site.api.post(f"{site.url}/api/v1/models/taxi/learn", json={"id": i, "ground_truth": 2.0 * i})
        assert learned.ok, learned.text
    # then the chart, the event feed, the learn-log head and the statistics update in place
    page.wait_for_function(f"document.querySelector(\"figure[data-metric='MAE']\").dataset.points > {before}")
    expect(page.locator("#event-feed .feed-predict").first).to_contain_text("v1 predicted")
    expect(page.locator("#event-feed .feed-learn").first).to_contain_text("v1 learned #10")
    expect(page.locator("#state-seq")).to_have_text("#10")
    expect(page.locator("#stats-table")).to_contain_text("predict")
    page.wait_for_function("document.querySelector(\"figure[data-route='predict']\").dataset.points > 0")
    assert_not_reloaded(page)


def test_a_version_whose_state_turns_non_finite_shows_in_the_event_feed(page, site):
    # given a model in production and its Monitoring page, connected
    api_model_in_production(site, "taxi")
    page.goto("/models/taxi/monitoring/")
    expect(page.locator("#conn-state")).to_have_attribute("data-conn", "live")
    # when it learns features of ±1e308 (its scaler's variance overflows) and is asked to predict
    for x in (1e308, -1e308):
        learned = site.api.post(f"{site.url}/api/v1/models/taxi/learn", json={"features": {"x": x}, "ground_truth": 1})
        assert learned.status_code == 201, learned.text
    assert site.api.post(f"{site.url}/api/v1/models/taxi/predict", json={"features": {"x": 1}}).status_code == 400
    # then the feed says so
    expect(page.locator("#event-feed .feed-non_finite").first).to_contain_text(
        "v1 predicted nan at learn #2: its live state turned non-finite"
    )


def test_a_deploy_shows_on_the_monitoring_page_without_a_reload(page, site):
    # given
    api_model_in_production(site, "taxi", versions=2)
    page.goto("/models/taxi/monitoring/")
    expect(page.locator("#conn-state")).to_have_attribute("data-conn", "live")
    mark_page(page)
    # when someone rolls back through the API
    assert site.api.post(f"{site.url}/api/v1/models/taxi/rollback", json={"note": "v2 is worse"}).ok
    # then
    expect(page.locator("#event-feed .feed-deploy").first).to_contain_text("rollback v2 → v1 by pilot")
    expect(page.locator("[data-production]")).to_have_text("v1")
    assert_not_reloaded(page)


def test_a_user_rolls_back_from_the_dashboard(page, site):
    # given v2 replaced v1 in production
    api_model_in_production(site, "taxi", versions=2)
    page.goto("/models/taxi/")
    # when
    page.get_by_role("link", name="Roll back to v1").click()
    page.get_by_label("Note").fill("v2 is worse")
    page.get_by_role("button", name="Roll back to v1").click()
    # then
    expect(page.get_by_text("taxi rolled back to v1.")).to_be_visible()
    expect(page.locator("#history li").first).to_contain_text("Rollback v2 → v1")
    assert site.api.get(f"{site.url}/api/v1/models/taxi/").json()["production_version"]["number"] == 1


def test_a_user_creates_uses_and_revokes_an_api_token(page, site):
    # given the user revokes the token they had
    page.goto("/settings/")
    page.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_text("You have no API token.")).to_be_visible()
    # when they create one
    page.get_by_role("button", name="Create a token").click()
    key = page.get_by_role("textbox", name="New API token").input_value()
    # then it works, and is shown only once
    models = f"{site.url}/api/v1/models/"
    assert site.api.get(models, headers={"Authorization": f"Token {key}"}).status_code == 200
    page.reload()
    expect(page.get_by_role("textbox", name="New API token")).to_have_count(0)
    # when they revoke it
    page.get_by_role("button", name="Revoke token").click()
    # then it no longer works
    expect(page.get_by_text("Your API token is revoked")).to_be_visible()
    assert site.api.get(models, headers={"Authorization": f"Token {key}"}).status_code == 401
