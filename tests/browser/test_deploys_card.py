"""The model page's Deploys card in a real browser: a deploy made elsewhere (the REST API) appears, with the
record of the server that pre-loaded it, on an open page without a reload."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_pages import api_model_in_production, assert_not_reloaded, mark_page, regressor

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_deploy_made_through_the_api_appears_live_on_the_open_model_page(page, site):
    # Given a model with v1 in production and a ready v2, its page open
    api_model_in_production(site, "housing")
    uploaded = site.api.post(
        f"{site.url}/api/v1/models/housing/versions/",
        data=regressor(intercept=0.5),
        params={"message": "version 2", "input_example": '{"x": 1.0}'},
        headers={"Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201, uploaded.text
    page.goto("/models/housing/")
    card = page.locator("#deploys")
    mark_page(page)
    # When v2 is deployed through the REST API
    deployed = site.api.post(f"{site.url}/api/v1/models/housing/versions/2/deploy", json={})
    assert deployed.status_code == 202, deployed.text
    # Then the card shows it succeeded, with the server's pre-load, without a reload of the page
    row = card.locator(f'[data-deploy="{deployed.json()["id"]}"]')
    expect(row).to_have_attribute("data-status", "succeeded", timeout=15_000)
    expect(row).to_contain_text("v2")
    expect(row.locator(".preloads")).to_contain_text("ready")
    assert_not_reloaded(page)
