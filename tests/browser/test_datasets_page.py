"""The Datasets pages in a real browser: upload a CSV and see its schema and preview, keep a slice of a model's
learn log, delete a dataset."""

import re

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CSV = "distance,city,duration\n1.5,Paris,7.2\n3.0,Lyon,11.9\n,Paris,4.0\n"


def test_an_uploaded_csv_shows_its_schema_and_preview_then_is_deleted(page, site, tmp_path):
    # Given a CSV file on the user's disk
    path = tmp_path / "trips.csv"
    path.write_text(CSV)
    # When the user uploads it from the Datasets page
    page.goto("/")
    page.get_by_role("link", name="Datasets").click()
    expect(page.get_by_text("No datasets yet")).to_be_visible()
    upload = page.get_by_role("region", name="Upload a dataset")
    upload.get_by_label("File").set_input_files(str(path))
    upload.get_by_label("Name").fill("trips")
    upload.get_by_label("Target").fill("duration")
    upload.get_by_role("button", name="Upload").click()
    # Then its page shows the rows, the inferred schema with the target, and the preview with the missing value
    expect(page).to_have_url(re.compile(r"/datasets/\d+/$"))
    expect(page.get_by_text("Stored trips: 3 rows, 3 columns.")).to_be_visible()
    schema = page.get_by_role("region", name="Schema")
    expect(schema.locator("tbody tr")).to_have_count(3)
    expect(schema.locator("tbody tr").filter(has_text="distance")).to_contain_text("number")
    expect(schema.locator("tbody tr").filter(has_text="city")).to_contain_text("string")
    expect(schema.locator("tbody tr").filter(has_text="duration")).to_contain_text("target")
    preview = page.get_by_role("region", name="Preview")
    expect(preview.locator("thead th")).to_have_text(["distance", "city", "duration"])
    expect(preview.locator("tbody tr")).to_have_count(3)
    expect(preview.locator("tbody tr").nth(1)).to_have_text(re.compile(r"3\.0\s*Lyon\s*11\.9"))
    expect(preview.locator("tbody tr").nth(2).locator("td").first).to_have_text("—")
    # And the API has the same dataset
    [listed] = site.api.get(f"{site.url}/api/v1/datasets/").json()["results"]
    assert (listed["name"], listed["rows"], listed["target"]) == ("trips", 3, "duration")
    # When the user deletes it, then it is gone from the list and the API
    page.get_by_role("button", name="Delete dataset").click()
    expect(page).to_have_url(re.compile(r"/datasets/$"))
    expect(page.get_by_text("Deleted dataset trips.")).to_be_visible()
    expect(page.get_by_text("No datasets yet")).to_be_visible()
    assert site.api.get(f"{site.url}/api/v1/datasets/").json()["results"] == []


def test_a_dataset_kept_from_a_learn_log_holds_its_entries(page, site):
    # Given a regression model that learned 30 events through the API
    api = f"{site.url}/api/v1/models/"
    assert site.api.post(api, json={"name": "taxi", "flavor": "regression"}).status_code == 201
    uploaded = site.api.post(
        f"{api}taxi/versions/", data=factories.artifact_bytes(), headers={"Content-Type": "application/octet-stream"}
    )
    assert uploaded.status_code == 201, uploaded.text
    assert site.api.post(f"{api}taxi/versions/1/promote", json={}).ok
    items = [{"features": {"km": float(i)}, "ground_truth": 2.0 * i + 1} for i in range(30)]
    assert site.api.post(f"{api}taxi/learn-many", json=items).ok
    # When the user keeps entries 11..20 of its learn log as a dataset
    page.goto("/datasets/")
    from_log = page.get_by_role("region", name="From a learn log")
    from_log.get_by_label("Name").fill("taxi-slice")
    from_log.get_by_label("Model").fill("taxi")
    from_log.get_by_label("From entry").fill("11")
    from_log.get_by_label("To entry").fill("20")
    from_log.get_by_role("button", name="Keep as a dataset").click()
    # Then its page says where it comes from, and previews those entries in log order
    expect(page.get_by_text("Stored taxi-slice: learn #11 to #20, 10 rows.")).to_be_visible()
    expect(page.get_by_role("region", name="About")).to_contain_text("learn log of taxi, entries #11 to #20")
    preview = page.get_by_role("region", name="Preview")
    expect(preview.locator("thead th")).to_have_text(["km", "ground_truth"])
    expect(preview.locator("tbody tr")).to_have_count(10)
    expect(preview.locator("tbody tr").first).to_have_text(re.compile(r"10(\.0)?\s*21(\.0)?"))
    # And a model that does not exist is refused on the form
    page.goto("/datasets/")
    from_log = page.get_by_role("region", name="From a learn log")
    from_log.get_by_label("Name").fill("ghost-log")
    from_log.get_by_label("Model").fill("ghost")
    from_log.get_by_role("button", name="Keep as a dataset").click()
    expect(page.get_by_role("alert")).to_contain_text("no model named 'ghost'")
