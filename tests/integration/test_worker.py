"""Validation in a real Celery worker: an upload is queued on Redis, a separate process validates it."""

import os
import time

import pytest

from catalogue import services
from catalogue.models import ModelVersion
from tests import factories

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"), reason="needs Redis and Postgres: set REDIS_URL and DATABASE_URL"
    ),
    pytest.mark.django_db(transaction=True),
]

SETTLED = {ModelVersion.Status.READY, ModelVersion.Status.FAILED}


def wait_until_validated(version_id: int, worker, timeout: float = 60.0) -> ModelVersion:
    """Poll the database (bounded) until the worker has stored a verdict; fail early if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = ModelVersion.objects.without_artifact().get(pk=version_id)
        if version.status in SETTLED:
            return version
        worker.assert_running()
        time.sleep(0.2)  # another process writes the row: there is no in-process event to await
    raise AssertionError(f"version {version_id} still {version.status} after {timeout} s; worker log:\n{worker.log()}")


def test_a_worker_process_validates_an_uploaded_river_model_to_ready(celery_worker, regressor_bytes):
    # Given a model in the catalogue
    model = factories.MLModelFactory(flavor="regression")
    # When a version is uploaded: its validation is queued on the broker, not run here
    version, created = services.model_version_register(model=model, data=regressor_bytes)
    assert created
    # Then the worker process validates it to ready
    validated = wait_until_validated(version.pk, celery_worker)
    assert validated.status == ModelVersion.Status.READY
    assert validated.validation_report["ok"] is True
    assert "Task catalogue.validate_version[" in celery_worker.log()


def test_a_worker_process_fails_a_garbage_upload_with_a_reason(celery_worker):
    # Given a model in the catalogue
    model = factories.MLModelFactory(flavor="regression")
    # When bytes that are no model are uploaded
    version, _ = services.model_version_register(model=model, data=b"this is not a pickled model", fmt="dill")
    # Then the worker marks it failed and says why
    validated = wait_until_validated(version.pk, celery_worker)
    assert validated.status == ModelVersion.Status.FAILED
    assert "could not load the bytes as dill" in validated.validation_report["summary"]
