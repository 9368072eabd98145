"""Concurrent uploads to one model on Postgres: every upload gets its own number, 1..N, none twice."""

import threading

import dill
import pytest
from django.db import connections
from river import linear_model

from catalogue import services
from catalogue.models import MLModel
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

UPLOADERS = 8


def test_concurrent_uploads_of_different_artifacts_get_version_numbers_one_to_n():
    # Given a model and N different artifacts, one per thread, each thread with its own connection
    model = factories.MLModelFactory(flavor="regression")
    artifacts = [dill.dumps(linear_model.LinearRegression(intercept_init=i)) for i in range(UPLOADERS)]
    start = threading.Barrier(UPLOADERS)
    numbers: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def upload(data: bytes) -> None:
        try:
            start.wait(30)
            version, created = services.model_version_register(
                model=MLModel.objects.get(pk=model.pk), data=data, validate=False
            )
            with lock:
                numbers.append(version.number if created else -1)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=upload, args=(data,)) for data in artifacts]
    # When they all upload at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Then no upload failed, and the numbers are exactly 1..N
    assert errors == []
    assert sorted(numbers) == list(range(1, UPLOADERS + 1))
    assert sorted(model.versions.values_list("number", flat=True)) == list(range(1, UPLOADERS + 1))
    model.refresh_from_db()
    assert model.version_counter == UPLOADERS
