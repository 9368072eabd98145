"""GET /metrics shows the production instances from their rows: how many per location and status, and each live
instance's lag per loaded model (the same in every process's scrape)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from serving.models import Instance
from tests.monitoring.test_prometheus import scrape

pytestmark = [pytest.mark.django_db, pytest.mark.no_instance]  # only the rows these tests make


def instance(key: str, *, location: str = "", beat_ago: float = 0.0, stopped: bool = False, models=None):
    now = timezone.now()
    return Instance.objects.create(
        key=key,
        host="h",
        pid=1,
        kind=Instance.Kind.WSGI,
        location=location,
        started_at=now,
        last_beat=now - timedelta(seconds=beat_ago),
        stopped_at=now if stopped else None,
        models=models or {},
    )


def test_instances_are_counted_per_location_and_status_with_the_missing_statuses_at_zero(anon_client, settings):
    settings.RHYTHMIC_HEARTBEAT_SECONDS = 5
    instance("eu-1", location="eu")
    instance("eu-2", location="eu")
    instance("eu-3", location="eu", beat_ago=60)
    instance("any", stopped=True)
    samples = scrape(anon_client)

    def count(location, status):
        return samples[("rhythmic_instances", frozenset({"location": location, "status": status}.items()))]

    assert (count("eu", "live"), count("eu", "lost"), count("eu", "stopped")) == (2, 1, 0)
    assert (count("", "live"), count("", "lost"), count("", "stopped")) == (0, 0, 1)


def test_the_lag_of_each_live_instance_is_exported_per_loaded_model_and_not_for_a_lost_one(anon_client):
    instance("web-1", models={"housing": {"versions": [2], "applied_seq": 10, "lag": 3}})
    instance("web-2", beat_ago=3600, models={"housing": {"versions": [2], "applied_seq": 1, "lag": 12}})
    lags = {
        dict(labels)["instance"]: value
        for (name, labels), value in scrape(anon_client).items()
        if name == "rhythmic_instance_model_lag"
    }
    assert lags == {"web-1": 3}
