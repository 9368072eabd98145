"""Challengers, canary and their chart on the model page in a real browser: add a challenger and set a canary
through the forms, see a line per learning version, click a point to preview a rewind there and confirm it."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_pages import api_model_in_production

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SNAPSHOT = "from monitoring import history; history.snapshot_model('taxi', [1, 2, 3])"


def learn(site, xs) -> None:
    items = [{"features": {"x": float(x)}, "ground_truth": 2.0 * x + 1.0} for x in xs]
    response = site.api.post(f"{site.url}/api/v1/models/taxi/learn-many", json=items)
    assert response.ok, response.text
    assert all("error" not in result for result in response.json()["results"]), response.text


def test_a_user_adds_a_challenger_and_sets_a_canary_through_the_panel(page, site):
    # Given v3 in production, v1 and v2 ready
    api_model_in_production(site, "taxi", versions=3)
    page.goto("/models/taxi/")
    panel = page.locator("#lifecycle")
    expect(panel).to_contain_text("No challenger or canary")
    # When the user adds v2 as a challenger
    panel.get_by_label("New challenger").select_option("2")
    panel.get_by_role("button", name="Add challenger").click()
    # Then the page says so and the panel lists it beside production
    expect(page.get_by_text("taxi v2 is a challenger")).to_be_visible()
    expect(panel.locator("tr[data-role=challenger] th")).to_have_text("v2")
    listed = site.api.get(f"{site.url}/api/v1/models/taxi/challengers/").json()["challengers"]
    assert [c["version"] for c in listed] == [2]
    # When they make v1 the canary for a quarter of the predictions
    panel.get_by_label("Canary version").select_option("1")
    panel.get_by_label("Share of predictions (%)").fill("25")
    panel.get_by_role("button", name="Set canary").click()
    # Then it answers that share, and the panel shows it with the button to end it
    expect(page.get_by_text("taxi v1 is the canary: it answers 25% of predictions")).to_be_visible()
    expect(panel.locator("tr[data-role=canary]")).to_contain_text("25% of predictions")
    canary = site.api.get(f"{site.url}/api/v1/models/taxi/canary").json()
    assert (canary["version"], canary["percent"]) == (1, 25.0)
    # When they remove the challenger, then add it again after someone else already did (a stale page)
    panel.get_by_role("button", name="Remove challenger v2").click()
    expect(page.get_by_text("taxi v2 is no longer a challenger")).to_be_visible()
    expect(panel.locator("tr[data-role=challenger]")).to_have_count(0)
    assert site.api.post(f"{site.url}/api/v1/models/taxi/challengers/", json={"version": 2}).ok
    panel.get_by_label("New challenger").select_option("2")
    panel.get_by_role("button", name="Add challenger").click()
    # Then the panel shows the core's refusal on the form
    expect(panel.get_by_role("alert")).to_contain_text("taxi v2 is already a challenger")


def test_the_chart_draws_every_learning_version_and_a_point_opens_its_rewind(page, site):
    # Given production v3, the canary v1 and the challenger v2, snapshotted after 2, 4 and 6 learns
    api_model_in_production(site, "taxi", versions=3)
    assert site.api.post(f"{site.url}/api/v1/models/taxi/challengers/", json={"version": 2}).ok
    assert site.api.put(f"{site.url}/api/v1/models/taxi/canary", json={"version": 1, "percent": 50}).ok
    for start in (0, 2, 4):
        learn(site, [start, start + 1])
        site.shell(SNAPSHOT)
    # When the user opens the model page
    page.goto("/models/taxi/")
    chart = page.locator("#lifecycle-chart")
    # Then the chart has one line per learning version, labelled by its role
    lines = chart.locator("svg path.line")
    expect(lines).to_have_count(3)
    assert sorted(lines.evaluate_all("ps => ps.map(p => p.dataset.series)")) == [
        "canary v1",
        "challenger v2",
        "production v3",
    ]
    expect(chart.locator(".legend li")).to_have_text(["canary v1", "challenger v2", "production v3"])
    expect(chart.locator('circle.point[data-series="production v3"][data-x="4"]')).to_have_count(1)
    # When they click production's point at log entry #4
    chart.locator('circle.point[data-series="production v3"][data-x="4"]').click()
    # Then the rewind preview of v3 back to #4 opens, prefilled, saying what would be undone
    page.wait_for_url("**/models/taxi/rewind/?version=3&to_seq=4")
    expect(page.get_by_label("Back to right after log entry")).to_have_value("4")
    expect(page.locator("#rewind-consequence")).to_contain_text("undoes 2 learned entries of v3")
    # When they confirm, v3 has learned only the first four entries
    page.get_by_role("button", name="Rewind v3").click()
    expect(page.get_by_text("taxi v3 rewound: 2 learned entries undone.")).to_be_visible()
    assert site.api.get(f"{site.url}/api/v1/models/taxi/metrics").json()["n_learned"] == 4


def test_a_chart_point_is_reachable_from_the_keyboard(page, site):
    api_model_in_production(site, "taxi")
    learn(site, [0, 1, 2])
    site.shell("from monitoring import history; history.snapshot_model('taxi')")
    learn(site, [3, 4])
    page.goto("/models/taxi/")
    point = page.locator('#lifecycle-chart circle.point[data-series="production v1"][data-x="3"]')
    point.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/models/taxi/rewind/?version=1&to_seq=3")
    expect(page.locator("#rewind-consequence")).to_contain_text("undoes 2 learned entries of v1")


def test_the_chart_follows_new_learns_without_a_reload(page, site):
    # Given production v2 and the challenger v1, with a snapshot after two learns
    api_model_in_production(site, "taxi", versions=2)
    assert site.api.post(f"{site.url}/api/v1/models/taxi/challengers/", json={"version": 1}).ok
    learn(site, [0, 1])
    site.shell("from monitoring import history; history.snapshot_model('taxi', [1, 2])")
    page.goto("/models/taxi/")
    chart = page.locator("#lifecycle-chart")
    expect(chart.locator('circle.point[data-series="challenger v1"][data-x="2"]')).to_have_count(1)
    page.evaluate("window.__notReloaded = true")
    # When the model learns three more events
    learn(site, [2, 3, 4])
    # Then each version's line gets a point at the new log head, on the same page
    for label in ("production v2", "challenger v1"):
        expect(chart.locator(f'circle.point[data-series="{label}"][data-x="5"]')).to_have_count(1)
    assert page.evaluate("window.__notReloaded === true")
