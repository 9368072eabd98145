"""The Instances page in a real browser: the site's own server process is listed, live, with the model it serves."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_pages import api_model_in_production

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.no_instance]  # only the servers' rows


def test_the_server_lists_itself_live_with_the_model_it_served(page, site):
    # Given a model the site's server has served once
    api_model_in_production(site, "housing")
    assert site.api.post(f"{site.url}/api/v1/models/housing/predict", json={"features": {"x": 1.0}}).ok
    # When the user opens Instances from the nav, once the server's next beat reported the model
    page.goto("/")
    page.get_by_role("link", name="Instances").click()
    expect(page).to_have_url(re.compile(r"/instances/$"))
    row = page.locator("tbody tr").filter(has_text="housing")
    for _ in range(30):  # a beat every RHYTHMIC_HEARTBEAT_SECONDS (5 s): no event to await in the page
        if row.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    # Then its row says live, the server's kind, and the model with no lag
    expect(row).to_have_count(1)
    expect(row.locator(".badge").first).to_have_text("live")
    expect(row).to_contain_text("every location")
    expect(row).to_contain_text(re.compile(r"housing v1 · seq 0 · lag\s*0"))
    # And the status filter keeps it under Live, not under Stopped
    page.get_by_role("navigation", name="Filter by status").get_by_role("link", name="Stopped").click()
    expect(page.get_by_text("No instances stopped")).to_be_visible()
