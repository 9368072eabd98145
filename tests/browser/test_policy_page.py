"""The promotion policy on the model page, in a real browser: the policy, its last decision, and the
automatic rollback it made marked in the deployment history."""

import random
import time

import pytest
from playwright.sync_api import expect

from tests.browser.test_pages import api_model_in_production

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def learn(site, name: str, relation, n: int, seed: int) -> None:
    rng = random.Random(seed)
    items = [{"features": {"x": (x := rng.uniform(-1, 1))}, "ground_truth": relation(x)} for _ in range(n)]
    response = site.api.post(f"{site.url}/api/v1/models/{name}/learn-many", json=items)
    assert response.ok, response.text
    assert all("error" not in result for result in response.json()["results"]), response.text


def wait_for_decision(site, name: str, decision: str, timeout: float = 30.0) -> None:
    """The server evaluates policies on its monitoring worker after the learns commit: poll the API for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = site.api.get(f"{site.url}/api/v1/models/{name}/policy").json()
        if (body.get("last_decision") or {}).get("action") == decision:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {decision} decision within {timeout} s: {body}")


def test_the_model_page_shows_the_policy_and_the_automatic_rollback_it_made(page, site):
    # Given v2 in production over v1, trained on y = 2x + 1, with no policy yet
    api_model_in_production(site, "taxi", versions=2)
    learn(site, "taxi", lambda x: 2 * x + 1, 200, seed=1)
    page.goto("/models/taxi/")
    expect(page.locator("#policy")).to_contain_text("No promotion policy")
    # When a policy is set and production's relation changes (the 100th learn evaluates it)
    body = {"auto_rollback": {"window": 50, "max_degradation": 0.5}}
    assert site.api.put(f"{site.url}/api/v1/models/taxi/policy", json=body).ok
    page.reload()
    expect(page.locator("[data-policy=auto_promote]")).to_have_text("off")
    expect(page.locator("[data-policy=auto_rollback]")).to_contain_text("more than 50% worse over its last 50 events")
    # (its last decision may already be a hold: learns before the policy queued evaluations that run after it)
    learn(site, "taxi", lambda x: 2 * x + 1, 50, seed=2)
    learn(site, "taxi", lambda x: -3 * x + 5, 50, seed=3)
    # Then (once monitoring's worker has evaluated it, after the learns) the page shows the rollback as the last
    # decision and as an automatic history entry with its reason
    wait_for_decision(site, "taxi", "rollback")
    page.reload()
    expect(page.locator("[data-policy=decision]")).to_contain_text("Rollback")
    expect(page.locator("[data-policy=decision]")).to_contain_text("v2's MAE over its last 50 events")
    latest = page.locator("#history .timeline li").first
    expect(latest).to_contain_text("Rollback")
    expect(latest).to_contain_text("v2 → v1")
    expect(latest.locator(".badge")).to_have_text("automatic")
    expect(latest.locator(".reason")).to_contain_text("worse (limit 50%)")
    expect(page.locator("#production-title + p")).to_contain_text("v1 serves predictions")
