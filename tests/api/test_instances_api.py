"""The instances API: list the production instances (?location=, ?status=) and read one; a login is enough, and
every refusal is a 4xx in the one error shape."""

import pytest

from tests.factories import InstanceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.no_instance]  # only the rows these tests make

URL = "/api/v1/instances/"


@pytest.fixture(autouse=True)
def _beats(settings):
    settings.RHYTHMIC_HEARTBEAT_SECONDS = 5
    settings.RHYTHMIC_INSTANCE_LOST_BEATS = 3


def keys(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {item["key"] for item in response.json()["results"]}


def test_the_list_shows_each_instance_with_its_status_runtime_and_loaded_models(reader_client):
    InstanceFactory(
        key="web-1:100:a",
        location="eu",
        runtime={"python": "3.11.7", "packages": {"river": "0.22.0"}},
        models={"housing": {"versions": [3], "applied_seq": 12, "lag": 2}},
    )
    response = reader_client.get(URL)
    assert response.status_code == 200
    (item,) = response.json()["results"]
    assert item["key"] == "web-1:100:a"
    assert (item["host"], item["pid"], item["kind"], item["location"], item["status"]) == (
        "web-1",
        100,
        "wsgi",
        "eu",
        "live",
    )
    assert item["runtime"]["packages"] == {"river": "0.22.0"}
    assert item["models"] == {"housing": {"versions": [3], "applied_seq": 12, "lag": 2}}
    assert item["stopped_at"] is None and item["started_at"] and item["last_beat"]


def test_status_filters_live_lost_and_stopped_instances(reader_client):
    InstanceFactory(key="live")
    InstanceFactory(key="lost", beat_ago=60)
    InstanceFactory(key="stopped", stopped=True)
    assert keys(reader_client.get(URL)) == {"live", "lost", "stopped"}
    for status in ("live", "lost", "stopped"):
        assert keys(reader_client.get(URL, {"status": status})) == {status}


def test_location_lists_its_instances_and_those_serving_every_location(reader_client):
    InstanceFactory(key="eu", location="eu")
    InstanceFactory(key="us", location="us")
    InstanceFactory(key="any")
    assert keys(reader_client.get(URL, {"location": "eu"})) == {"eu", "any"}
    assert keys(reader_client.get(URL, {"location": "nowhere"})) == {"any"}


def test_an_unknown_status_is_refused_with_the_statuses_it_accepts(reader_client):
    response = reader_client.get(URL, {"status": "dead"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "status"
    assert "live, lost, stopped" in error["message"]


def test_one_instance_reads_by_its_key_and_an_unknown_key_is_404(reader_client):
    InstanceFactory(key="web-1:100:a", beat_ago=60)
    response = reader_client.get(URL + "web-1:100:a/")
    assert response.status_code == 200
    assert response.json()["status"] == "lost"
    missing = reader_client.get(URL + "web-9:1:zz/")
    assert missing.status_code == 404
    assert "no instance 'web-9:1:zz'" in missing.json()["error"]["message"]


def test_reading_instances_needs_a_login(anon_client):
    InstanceFactory(key="web-1:100:a")
    for url in (URL, URL + "web-1:100:a/"):
        response = anon_client.get(url)
        assert response.status_code == 401
        assert "error" in response.json()


def test_the_slashless_routes_redirect_to_the_documented_ones(reader_client):
    assert reader_client.get("/api/v1/instances?status=live").headers["Location"] == URL + "?status=live"
