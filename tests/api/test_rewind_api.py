"""POST /api/v1/models/{name}/versions/{n}/rewind: rewind, dry run, history, and every refusal in one shape."""

import itertools

import dill
import pytest
from river import datasets

import serving
from catalogue import services
from serving.models import Rewind, VersionSkip
from tests import factories
from tests.serving.test_rewind import poisoned, reference, regressor

pytestmark = pytest.mark.django_db

CLEAN = list(itertools.islice(datasets.TrumpApproval(), 20))
URL = "/api/v1/models/live/versions/1/rewind"


@pytest.fixture
def live(settings):
    settings.RHYTHMIC_CHECKPOINT_EVERY = 3
    model = factories.MLModelFactory(name="live")
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(regressor()))
    services.deployment_promote(version=version)
    for x, y in CLEAN[:12] + poisoned(CLEAN[12:16]):  # seqs 13-16 poisoned
        serving.learn(model="live", features=x, ground_truth=y)
    return model, version


def test_a_rewind_answers_201_with_the_record_and_the_state_after(live, maintainer_client):
    response = maintainer_client.post(URL, {"to_seq": 12, "reason": "labeller bug"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("model", "version", "to_seq", "skip", "head_seq", "n_undone", "user", "reason")} == {
        "model": "live",
        "version": 1,
        "to_seq": 12,
        "skip": [],
        "head_seq": 16,
        "n_undone": 4,
        "user": "maintainer",
        "reason": "labeller bug",
    }
    assert body["after"]["n_learned"] == 12
    assert body["after"]["metrics"] == pytest.approx(reference(CLEAN[:12])[1], abs=1e-9, rel=1e-9)


def test_a_skip_list_rewinds_without_those_entries(live, maintainer_client):
    response = maintainer_client.post(URL, {"skip": [13, 14, 15, 16]}, format="json")
    assert response.status_code == 201, response.content
    assert list(VersionSkip.objects.values_list("from_seq", "to_seq")) == [(13, 16)]
    assert response.json()["after"]["n_learned"] == 12


def test_a_dry_run_previews_and_changes_nothing(live, maintainer_client):
    response = maintainer_client.post(URL, {"to_seq": 12, "dry_run": True}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["n_undone"] == 4 and body["after"]["n_learned"] == 12 and body["now"]["n_learned"] == 16
    assert not Rewind.objects.exists()


def test_the_history_lists_the_versions_rewinds(live, maintainer_client, reader_client):
    maintainer_client.post(URL, {"to_seq": 12}, format="json")
    response = reader_client.get(URL)
    assert response.status_code == 200
    assert [(r["to_seq"], r["n_undone"]) for r in response.json()["results"]] == [(12, 4)]


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        ({}, 400, "invalid", "either"),
        ({"to_seq": 3, "skip": [4]}, 400, "invalid", "not both"),
        ({"to_seq": -1}, 400, "invalid", "to_seq"),
        ({"to_seq": "soon"}, 400, "invalid", "to_seq"),
        ({"to_seq": 99}, 400, "invalid", "beyond the log head #16"),
        ({"skip": "13"}, 400, "invalid", "skip"),
        ({"skip": [17]}, 400, "invalid", "#17 not in the log"),
        ({"to_seq": 16}, 409, "nothing_to_undo", "learned no entry after #16"),
        ({"to_seq": 3, "whence": 1}, 400, "invalid", "unknown field"),
    ],
)
def test_bad_rewinds_get_the_api_error_shape(live, maintainer_client, body, status, code, says):
    response = maintainer_client.post(URL, body, format="json")
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and says in error["message"]
    assert not Rewind.objects.exists()


def test_an_unknown_version_is_404(live, maintainer_client):
    response = maintainer_client.post("/api/v1/models/live/versions/9/rewind", {"to_seq": 3}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_rewind_needs_the_permission_a_rollback_needs(live, reader_client, anon_client):
    assert reader_client.post(URL, {"to_seq": 12}, format="json").status_code == 403
    assert anon_client.post(URL, {"to_seq": 12}, format="json").status_code == 401
    assert not Rewind.objects.exists()
