"""Every way to upload an artifact ends in one service (catalogue.services.model_version_upload): REST, the
upload page, the admin, ``add_model``, deploy configs and chantilly's /api/model refuse a bad artifact and a
flavor mismatch with the same error, and validate and log an upload alike."""

import io
import logging
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from catalogue.models import MLModel, ModelVersion
from tests import factories

pytestmark = pytest.mark.django_db

RAW = "application/octet-stream"
EMPTY = "the artifact is empty: send the serialized model as the request body or file"


def _cli(*args) -> str:
    """What a management command refuses with (its CommandError's text), or its output."""
    out = io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return str(exc)
    return out.getvalue()


def _config(folder: Path, data: bytes, *, flavor: str = "regression") -> str:
    (folder / "model.dill").write_bytes(data)
    config = folder / "deploy.toml"
    config.write_text(f'[model]\nname = "taxi"\nflavor = "{flavor}"\n\n[artifact]\npath = "model.dill"\n')
    return str(config)


def _artifact(folder: Path, data: bytes) -> str:
    path = folder / "model.bin"
    path.write_bytes(data)
    return str(path)


@pytest.fixture
def chantilly(maintainer_client):
    assert maintainer_client.post("/api/init", {"flavor": "regression"}, format="json").status_code == 201
    return maintainer_client


def test_an_empty_artifact_gets_the_same_refusal_from_every_entry_point(chantilly, tmp_path):
    # Given an existing model, and nothing to upload
    factories.MLModelFactory(name="taxi", flavor="regression")
    # When each entry point is given empty bytes
    rest = chantilly.post("/api/v1/models/taxi/versions/", b"", content_type=RAW)
    compat = chantilly.post("/api/model/taxi", b"", content_type=RAW)
    # Then the REST routes refuse it with one 400 and one message
    assert (rest.status_code, compat.status_code) == (400, 400)
    assert rest.json() == compat.json() == {"error": {"code": "invalid", "message": EMPTY, "field": None}}
    # And the commands with the same message
    assert _cli("add_model", _artifact(tmp_path, b""), "--name=taxi") == EMPTY
    assert _cli("deploy", _config(tmp_path, b"")) == EMPTY
    assert not ModelVersion.objects.exists()


def test_an_empty_artifact_for_a_new_model_creates_no_model_from_any_entry_point(chantilly, tmp_path):
    assert chantilly.post("/api/model/new", b"", content_type=RAW).json()["error"]["message"] == EMPTY
    assert _cli("add_model", _artifact(tmp_path, b""), "--name=new", "--flavor=regression") == EMPTY
    assert _cli("deploy", _config(tmp_path, b"")) == EMPTY
    assert not MLModel.objects.exists()


def test_a_flavor_mismatch_is_refused_the_same_way_by_every_entry_point_that_names_a_flavor(
    maintainer_client, tmp_path, regressor_bytes
):
    # Given a regression model, and a chantilly workspace of binary models
    factories.MLModelFactory(name="taxi", flavor="regression")
    assert maintainer_client.post("/api/init", {"flavor": "binary"}, format="json").status_code == 201
    expected = "model taxi is a regression model, not binary"
    # When each entry point uploads to it as a binary model
    compat = maintainer_client.post("/api/model/taxi", regressor_bytes, content_type=RAW)
    # Then each refuses with the same conflict
    assert compat.status_code == 409
    assert compat.json() == {"error": {"code": "conflict", "message": expected, "field": "flavor"}}
    assert _cli("add_model", _artifact(tmp_path, regressor_bytes), "--name=taxi", "--flavor=binary") == expected
    assert _cli("deploy", _config(tmp_path, regressor_bytes, flavor="binary")) == expected
    # And nothing was stored
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db(transaction=True)  # validation runs when the upload commits
def test_bytes_that_are_no_model_fail_the_same_validation_from_every_entry_point(maintainer, tmp_path, caplog):
    # Given a model, a maintainer on every interface, and bytes that are no model (a different tail each time)
    factories.MLModelFactory(name="taxi", flavor="regression")
    admin, page = Client(), Client()
    admin.force_login(factories.UserFactory(username="root", is_staff=True, is_superuser=True))
    page.force_login(maintainer)
    api = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=maintainer)[0].key}")
    junk = [f"junk from {where}".encode() for where in ("rest", "page", "admin", "cli", "deploy")]
    caplog.set_level(logging.INFO, logger="catalogue.services")
    # When each entry point uploads them
    assert api.post("/api/v1/models/taxi/versions/", junk[0], content_type=RAW).status_code == 201
    page.post("/models/taxi/versions/new/", {"file": SimpleUploadedFile("m.dill", junk[1]), "format": ""})
    form = {"model": MLModel.objects.get().pk, "artifact_file": SimpleUploadedFile("m.dill", junk[2])}
    admin.post(reverse("admin:catalogue_modelversion_add"), {**form, "artifact_format": ""})
    refused_cli = _cli("add_model", _artifact(tmp_path, junk[3]), "--name=taxi")
    refused_deploy = _cli("deploy", _config(tmp_path, junk[4]))
    # Then each stored a version that failed the same validation, and each upload logged the same line
    versions = list(ModelVersion.objects.order_by("number"))
    assert [v.number for v in versions] == [1, 2, 3, 4, 5]
    summaries = {v.validation_report["summary"] for v in versions}
    assert len(summaries) == 1
    assert {v.status for v in versions} == {"failed"}
    (summary,) = summaries
    assert summary in refused_cli and summary in refused_deploy
    registered = [r.getMessage() for r in caplog.records if r.getMessage().startswith("registered taxi v")]
    assert [line.split(" (")[0] for line in registered] == [f"registered taxi v{n}" for n in range(1, 6)]


@pytest.mark.django_db(transaction=True)
def test_chantilly_refuses_bytes_that_are_no_model_with_the_validation_summary_of_the_other_entry_points(
    maintainer_client,
):
    # Given a model whose REST upload of junk failed validation
    factories.MLModelFactory(name="taxi", flavor="regression")
    maintainer_client.post("/api/v1/models/taxi/versions/", b"junk from rest", content_type=RAW)
    summary = ModelVersion.objects.get().validation_report["summary"]
    # When chantilly's route gets junk too
    maintainer_client.post("/api/init", {"flavor": "regression"}, format="json")
    response = maintainer_client.post("/api/model/other", b"junk from chantilly", content_type=RAW)
    # Then it refuses it with that same summary, and keeps nothing
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_model",
        "message": f"the model was refused: {summary}",
        "field": None,
    }
    assert not MLModel.objects.filter(name="other").exists()
