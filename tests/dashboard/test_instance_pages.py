"""The Instances page: every registered server process with its status, location, kind, last beat, runtime and
loaded models with their lag; a status filter; a login."""

import pytest
from django.urls import reverse

from serving.models import Instance
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.no_instance]  # only the rows these tests make

URL = reverse("dashboard:instances")


def test_the_page_lists_each_instance_with_its_status_runtime_and_models_with_their_lag(reader_web, settings):
    settings.RHYTHMIC_HEARTBEAT_SECONDS = 5
    factories.MLModelFactory(name="housing")
    factories.InstanceFactory(
        kind=Instance.Kind.ASGI,
        key="web-1:100:a",
        location="eu",
        runtime={"python": "3.11.7", "packages": {"river": "0.22.0", "aiohttp": "3.0"}},
        models={"housing": {"versions": [3, 4], "applied_seq": 12, "lag": 2}},
    )
    factories.InstanceFactory(kind=Instance.Kind.ASGI, key="web-1:101:b", beat_ago=60)
    response = reader_web.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<code>web-1:100:a</code>" in page and "<code>web-1:101:b</code>" in page
    assert 'badge-ok">live<' in page and 'badge-bad">lost<' in page
    assert "every location" in page and ">eu<" in page and ">asgi<" in page
    assert "Python 3.11.7" in page and "river 0.22.0" in page and "aiohttp" not in page  # the packages a version uses
    assert 'href="/models/housing/">housing</a> v3, v4 · seq 12 · lag <span class="badge badge-wait">2</span>' in page
    assert 'aria-current="page">Instances</a>' in page  # the nav names the page


def test_the_status_filter_shows_only_that_status_and_ignores_an_unknown_one(reader_web):
    factories.InstanceFactory(kind=Instance.Kind.ASGI, key="live-one")
    factories.InstanceFactory(kind=Instance.Kind.ASGI, key="stopped-one", stopped=True)
    stopped = reader_web.get(URL, {"status": "stopped"}).content.decode()
    assert "stopped-one" in stopped and "live-one" not in stopped
    every = reader_web.get(URL, {"status": "dead"}).content.decode()
    assert "stopped-one" in every and "live-one" in every
    assert "No instances lost" in reader_web.get(URL, {"status": "lost"}).content.decode()


def test_the_page_needs_a_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
