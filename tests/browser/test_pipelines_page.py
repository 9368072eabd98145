"""The Pipelines pages in a real browser: create a two-stage pipeline from the form, score it on its page."""

import json
import re

import pytest
from playwright.sync_api import expect
from river import anomaly, linear_model, preprocessing

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FEATURES = {"amount": 0.3, "hour": 0.8}


def live_model(site, name: str, flavor: str, obj) -> None:
    """Through the REST API: model ``name`` with ``obj`` as v1, in production."""
    api = f"{site.url}/api/v1/models/"
    assert site.api.post(api, json={"name": name, "flavor": flavor}).status_code == 201
    uploaded = site.api.post(
        f"{api}{name}/versions/",
        data=factories.artifact_bytes(obj),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201, uploaded.text
    promoted = site.api.post(f"{api}{name}/versions/1/promote", json={})
    assert promoted.ok, promoted.text


def test_a_two_stage_pipeline_created_on_the_page_scores_as_the_api_and_learns_by_the_id(page, site):
    # Given an anomaly scorer and a classifier, each live
    live_model(site, "scorer", "anomaly", preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=42))
    live_model(site, "clf", "binary", preprocessing.StandardScaler() | linear_model.LogisticRegression())
    # When the user creates a pipeline over them from the Pipelines page
    page.goto("/")
    page.get_by_role("link", name="Pipelines").click()
    expect(page.get_by_text("No pipelines yet.")).to_be_visible()
    page.get_by_role("link", name="New pipeline").click()
    page.get_by_label("Name").fill("fraud")
    page.get_by_label("Stages").fill("scorer as anomaly_score\nclf")
    page.get_by_role("button", name="Create pipeline").click()
    # Then its page shows version 1 in production with both stages, linked to their models
    expect(page).to_have_url(re.compile(r"/pipelines/fraud/$"))
    expect(page.get_by_text("Created fraud: version 1 is in production.")).to_be_visible()
    expect(page.locator("[data-production]")).to_have_text("v1")
    expect(page.locator('li[data-stage="scorer"]')).to_contain_text("as anomaly_score")
    expect(page.locator('li[data-stage="clf"] a')).to_have_attribute("href", "/models/clf/")
    # When the user scores features with an id on the page
    score = page.get_by_role("region", name="Score")
    score.get_by_label("Features (JSON)").fill(json.dumps(FEATURES))
    score.get_by_label("Prediction id").fill("tx-1")
    score.get_by_role("button", name="Score").click()
    # Then the page shows the answer the REST API gives for the same features, and each stage's output
    answered = site.api.post(f"{site.url}/api/v1/pipelines/fraud/predict", json={"features": FEATURES}).json()
    shown = page.locator("[data-score-prediction]")
    expect(shown).to_be_visible()
    assert json.loads(shown.inner_text()) == answered["prediction"]
    for stage in ("scorer", "clf"):
        row = page.locator(f'tr[data-score-stage="{stage}"]')
        assert json.loads(row.locator("code").inner_text()) == answered["stages"][stage]["prediction"]
    expect(page.get_by_text("for id tx-1")).to_be_visible()
    # And the id scored on the page is learned through the API, every stage teaching what it saw
    learned = site.api.post(f"{site.url}/api/v1/pipelines/fraud/learn", json={"id": "tx-1", "ground_truth": True})
    assert learned.status_code == 201, learned.text
    assert set(learned.json()["stages"]) == {"scorer", "clf"}
    assert learned.json()["stages"]["clf"]["ground_truth"] is True


def test_bad_stages_and_bad_features_are_shown_on_the_forms(page, site):
    live_model(site, "clf", "binary", preprocessing.StandardScaler() | linear_model.LogisticRegression())
    page.goto("/new-pipeline/")
    page.get_by_label("Name").fill("fraud")
    page.get_by_label("Stages").fill("ghost as g\nclf")
    page.get_by_role("button", name="Create pipeline").click()
    expect(page.get_by_role("alert")).to_contain_text("stages[0].model: no model named 'ghost'")
    page.get_by_label("Stages").fill("clf")
    page.get_by_role("button", name="Create pipeline").click()
    expect(page).to_have_url(re.compile(r"/pipelines/fraud/$"))
    score = page.get_by_role("region", name="Score")
    score.get_by_label("Features (JSON)").fill("[1, 2]")
    score.get_by_role("button", name="Score").click()
    expect(page.get_by_role("alert")).to_contain_text("give a JSON object of features")
