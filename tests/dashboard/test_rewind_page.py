"""The rewind panel and page through Django's test client: preview changes nothing, confirm rewinds, refusals."""

import itertools

import dill
import pytest
from river import datasets

import serving
from catalogue import services
from serving.models import Rewind
from tests import factories
from tests.serving.test_rewind import poisoned, regressor

pytestmark = pytest.mark.django_db

CLEAN = list(itertools.islice(datasets.TrumpApproval(), 12))


@pytest.fixture
def live(settings):
    model = factories.MLModelFactory(name="live")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(regressor()))
    services.deployment_promote(version=version)
    for x, y in CLEAN[:8] + poisoned(CLEAN[8:12]):
        serving.learn(model="live", features=x, ground_truth=y)
    return model


def test_the_model_page_has_the_rewind_panel_prefilled_with_the_head(live, maintainer_web):
    body = maintainer_web.get("/models/live/").content.decode()
    assert 'id="rewind-title"' in body and 'name="to_seq"' in body and 'value="12"' in body


def test_a_preview_shows_what_would_be_undone_and_changes_nothing(live, maintainer_web):
    response = maintainer_web.get("/models/live/rewind/", {"version": 1, "to_seq": 8})
    assert response.status_code == 200
    body = response.content.decode()
    assert "undoes <strong>4</strong> learned entries" in body and "Rewind v1</button>" in body
    assert not Rewind.objects.exists()


def test_confirming_rewinds_and_the_history_shows_it(live, maintainer_web):
    response = maintainer_web.post("/models/live/rewind/", {"version": 1, "to_seq": 8, "reason": "bad feed"})
    assert response.status_code == 302 and response["Location"].endswith("/models/live/#rewinds")
    assert Rewind.objects.get().reason == "bad feed"
    assert serving.metrics(model="live")["n_learned"] == 8
    body = maintainer_web.get("/models/live/").content.decode()
    assert "4 entries undone" in body and "bad feed" in body


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"version": 1, "to_seq": 99}, 400, "beyond the log head #12"),
        ({"version": 1, "to_seq": 8, "skip": "9"}, 400, "not both"),
        ({"version": 1, "skip": "x,y"}, 400, "separated by commas"),
        ({"version": 7, "to_seq": 8}, 404, "has no version 7"),
    ],
)
def test_a_refused_rewind_says_why_on_the_page(live, maintainer_web, params, status, says):
    response = maintainer_web.get("/models/live/rewind/", params)
    assert response.status_code == status
    assert says in response.content.decode()


def test_a_rewind_needs_the_change_permission(live, reader_web):
    response = reader_web.post("/models/live/rewind/", {"version": 1, "to_seq": 8})
    assert response.status_code == 403
    assert not Rewind.objects.exists()
