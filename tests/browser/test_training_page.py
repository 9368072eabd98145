"""The Training jobs page in a real browser: start a job from the page, watch its progress bar finish live."""

import re

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DATASET = """
from catalogue.datasets.services import dataset_create
from tests.training import csv_bytes, trump_rows
print("DATASET=%d" % dataset_create(name="trump", content=csv_bytes(trump_rows()), target="approval").pk)
"""


def model_and_dataset(site) -> int:
    """Through the REST API a regression model with an untrained river pipeline as v1 (in production); through
    the shell a dataset of TrumpApproval's 1001 rows. Returns the dataset's id."""
    assert site.api.post(f"{site.url}/api/v1/models/", json={"name": "trump", "flavor": "regression"}).ok
    uploaded = site.api.post(
        f"{site.url}/api/v1/models/trump/versions/",
        data=factories.artifact_bytes(factories.river_regressor()),
        params={"message": "untrained"},
        headers={"Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert site.api.post(f"{site.url}/api/v1/models/trump/versions/1/promote", json={}).ok
    return int(re.search(r"DATASET=(\d+)", site.shell(DATASET)).group(1))


@pytest.fixture
def small_chunks(monkeypatch):
    """Request before ``site``: its server reports a job's progress every 50 rows, so the bar moves in steps."""
    monkeypatch.setenv("RHYTHMIC_TRAINING_CHUNK", "50")


def test_a_job_started_on_the_page_shows_its_progress_bar_finish_and_the_version_it_made(small_chunks, page, site):
    # Given a model and a dataset, and the model's Training jobs page open
    dataset = model_and_dataset(site)
    page.goto("/models/trump/")
    page.get_by_role("link", name="Training jobs").click()
    card = page.locator("#training")
    expect(card.get_by_text("No training jobs yet.")).to_be_visible()
    # When the user starts a job training v1 on the dataset, promoting the result
    expect(card.get_by_label("Dataset")).to_contain_text("trump (1001 rows, target approval)")
    card.get_by_label("Dataset").select_option(str(dataset))
    card.get_by_label("Promote when ready").check()
    card.get_by_role("button", name="Start training").click()
    expect(page).to_have_url(re.compile(r"/models/trump/jobs/$"))
    expect(page.get_by_text(re.compile(r"Training job #\d+ started: v1 on dataset trump\."))).to_be_visible()
    page.evaluate("window.__notReloaded = true")
    row = card.locator("tr[data-job]").first
    # Then its progress bar reaches the end and the row shows the metrics and v2, without a reload
    expect(row).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(row.locator("progress")).to_have_attribute("value", "100")
    expect(row.locator("[data-job-rows]")).to_have_text("1001 / 1001 rows")
    expect(row.locator('tr[data-metric="MAE"] [data-value]')).not_to_have_text("—")
    expect(row.locator("[data-job-result]")).to_contain_text("v2")
    expect(row.locator("[data-job-result]")).to_contain_text("production")
    assert page.evaluate("window.__notReloaded === true")
    # and the API agrees
    jobs = site.api.get(f"{site.url}/api/v1/models/trump/jobs/").json()["results"]
    assert [(j["status"], j["rows_done"], j["result_version"]) for j in jobs] == [("succeeded", 1001, 2)]


def test_a_job_started_through_the_api_appears_and_finishes_live_on_an_open_page(small_chunks, page, site):
    dataset = model_and_dataset(site)
    page.goto("/models/trump/jobs/")
    expect(page.locator("#training").get_by_text("No training jobs yet.")).to_be_visible()
    page.evaluate("window.__notReloaded = true")
    # When another client starts a warm start from the live state through the API
    started = site.api.post(
        f"{site.url}/api/v1/models/trump/jobs/", json={"version": 1, "dataset": dataset, "from": "live"}
    )
    assert started.status_code == 202, started.text
    # Then its row appears on the open page and its progress bar follows it to the end
    row = page.locator(f'#training tr[data-job="{started.json()["id"]}"]')
    expect(row).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(row.locator("progress")).to_have_attribute("value", "100")
    expect(row.locator("[data-job-rows]")).to_have_text("1001 / 1001 rows")
    assert page.evaluate("window.__notReloaded === true")
