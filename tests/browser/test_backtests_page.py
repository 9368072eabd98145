"""The Backtests card in a real browser: start one from the model page, watch it finish without a reload."""

import re

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def model_with_a_learn_log(site, name: str, learns: int) -> None:
    """Through the REST API: a regression model with v1 in production, a ready v2, and ``learns`` learns."""
    assert site.api.post(f"{site.url}/api/v1/models/", json={"name": name, "flavor": "regression"}).ok
    for number in (1, 2):
        uploaded = site.api.post(
            f"{site.url}/api/v1/models/{name}/versions/",
            data=factories.artifact_bytes(factories.river_regressor(intercept=number)),
            params={"message": f"version {number}", "input_example": '{"x": 1.0}'},
            headers={"Content-Type": "application/octet-stream"},
        )
        assert uploaded.status_code == 201, uploaded.text
    assert site.api.post(f"{site.url}/api/v1/models/{name}/versions/1/promote", json={}).ok
    items = [{"features": {"x": float(i % 17)}, "ground_truth": 3.0 * (i % 17) + 1.0} for i in range(learns)]
    learned = site.api.post(f"{site.url}/api/v1/models/{name}/learn-many", json=items)
    assert learned.ok, learned.text


def test_a_backtest_started_on_the_page_shows_its_progress_and_results_without_a_reload(page, site):
    # Given a model with a learn log of 400 entries, and its Dashboard open
    model_with_a_learn_log(site, "taxi", 400)
    page.goto("/models/taxi/")
    card = page.locator("#backtests")
    expect(card.get_by_text("No backtests yet.")).to_be_visible()
    # When the user starts a backtest of v2 over entries 51..400
    card.get_by_label("Version").select_option("2")
    card.get_by_label("From learn #").fill("51")
    card.get_by_role("button", name="Start backtest").click()
    expect(page).to_have_url(re.compile(r"/models/taxi/#backtests$"))
    expect(page.get_by_text(re.compile(r"Backtest #\d+ of v2 started over learn #51 to #400\."))).to_be_visible()
    page.evaluate("window.__notReloaded = true")
    row = card.locator("tr[data-backtest]").first
    # Then its row reaches the end and shows the replayed metrics beside the baseline, the page never reloaded
    expect(row).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(row.locator("progress")).to_have_attribute("value", "100")
    expect(row.locator("[data-backtest-events]")).to_have_text("350 / 350 events")
    expect(row.locator('tr[data-metric="MAE"] [data-replayed]')).not_to_have_text("—")
    expect(row.locator('tr[data-metric="MAE"] [data-baseline]')).not_to_have_text("—")
    assert page.evaluate("window.__notReloaded === true")
    # and the API agrees with what the page shows
    listed = site.api.get(f"{site.url}/api/v1/models/taxi/backtests/").json()["results"]
    assert [(b["version"], b["from_seq"], b["to_seq"], b["status"]) for b in listed] == [(2, 51, 400, "succeeded")]


@pytest.fixture
def small_chunks(monkeypatch):
    """Request before ``site``: its server reads the log 10 entries at a time, so progress comes in many steps."""
    monkeypatch.setenv("RHYTHMIC_BACKTEST_CHUNK", "10")


def test_a_backtest_started_elsewhere_appears_and_progresses_live_on_an_open_page(small_chunks, page, site):
    # Given a model with a learn log of 600 entries, and its Dashboard open
    model_with_a_learn_log(site, "taxi", 600)
    page.goto("/models/taxi/")
    expect(page.locator("#backtests").get_by_text("No backtests yet.")).to_be_visible()
    page.evaluate("window.__notReloaded = true")
    # When another client starts a backtest through the API
    started = site.api.post(f"{site.url}/api/v1/models/taxi/backtests/", json={"version": 1})
    assert started.status_code == 202, started.text
    # Then its row appears on the open page and follows it to the end, without a reload
    row = page.locator(f'#backtests tr[data-backtest="{started.json()["id"]}"]')
    expect(row).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(row.locator("[data-backtest-events]")).to_have_text("600 / 600 events")
    expect(row.locator("progress")).to_have_attribute("value", "100")
    assert page.evaluate("window.__notReloaded === true")


def test_a_backtest_that_fails_shows_why(page, site):
    # Given a model with a learn log and a predict-only v3 (scikit-learn, no partial_fit)
    from sklearn.linear_model import LinearRegression

    model_with_a_learn_log(site, "taxi", 20)
    fitted = LinearRegression().fit([[0.0], [1.0]], [1.0, 4.0])
    uploaded = site.api.post(
        f"{site.url}/api/v1/models/taxi/versions/",
        data=factories.artifact_bytes(fitted),
        params={"message": "batch", "input_example": '{"x": 1.0}'},
        headers={"Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201 and uploaded.json()["status"] == "ready", uploaded.text
    page.goto("/models/taxi/")
    # When the user backtests it
    page.locator("#backtests").get_by_label("Version").select_option("3")
    page.locator("#backtests").get_by_role("button", name="Start backtest").click()
    # Then the row ends failed with the reason
    row = page.locator("#backtests tr[data-backtest]").first
    expect(row).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(row).to_contain_text("v3 is predict-only")
