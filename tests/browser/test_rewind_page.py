"""Rewinding from the model page in a real browser: choose the entry, see the preview, confirm."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_pages import api_model_in_production

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_user_previews_and_rewinds_a_poisoned_version(page, site):
    # given a model that learned 6 good entries, then 3 poisoned ones
    api_model_in_production(site, "taxi")
    for x in range(9):
        truth = 2.0 * x + 1.0 if x < 6 else 10_000.0
        learned = site.api.post(
            f"{site.url}/api/v1/models/taxi/learn", json={"features": {"x": x}, "ground_truth": truth}
        )
        assert learned.ok, learned.text
    page.goto("/models/taxi/")
    # when the user picks the last good entry and asks for a preview
    panel = page.locator("#rewinds")
    expect(panel.get_by_label("Back to right after log entry")).to_have_value("9")
    panel.get_by_label("Back to right after log entry").fill("6")
    panel.get_by_role("button", name="Preview rewind").click()
    # then the page says what would be undone, with the metrics now and after
    expect(page.locator("#rewind-consequence")).to_contain_text("undoes 3 learned entries of v1")
    expect(page.get_by_role("table", name="Metrics now and after")).to_contain_text("Learned entries")
    assert site.api.get(f"{site.url}/api/v1/models/taxi/versions/1/rewind").json()["results"] == []
    # when they confirm with a reason
    page.get_by_label("Reason").fill("labels from the broken feed")
    page.get_by_role("button", name="Rewind v1").click()
    # then the model page shows the rewind and the version learned only the good entries
    expect(page.get_by_text("taxi v1 rewound: 3 learned entries undone.")).to_be_visible()
    expect(page.locator("#rewinds li").first).to_contain_text("labels from the broken feed")
    assert site.api.get(f"{site.url}/api/v1/models/taxi/metrics").json()["n_learned"] == 6
