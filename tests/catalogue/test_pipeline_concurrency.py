"""Concurrent writes to one pipeline on Postgres: versions get distinct numbers, promotes chain in the history."""

import itertools
import threading

import pytest
from django.db import connections

from catalogue import pipelines
from catalogue.pipeline_models import Pipeline, PipelineDeployment
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]

WRITERS = 8


def run_at_once(calls) -> list[BaseException]:
    start = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call) -> None:
        try:
            start.wait(30)
            call()
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


@pytest.fixture
def pipeline():
    for i in range(WRITERS):
        factories.MLModelFactory(name=f"m{i}", flavor="binary")
    return pipelines.pipeline_create(name="p", stages=[{"model": "m0", "as": "s"}, {"model": "m1"}])


def test_concurrent_new_versions_get_the_numbers_two_to_n_plus_one(pipeline):
    # When N writers each add other stages at once
    errors = run_at_once(
        [
            lambda i=i: pipelines.pipeline_version_create(
                pipeline=Pipeline.objects.get(pk=pipeline.pk), stages=[{"model": f"m{i}"}]
            )
            for i in range(WRITERS)
        ]
    )
    # Then none failed and the numbers are exactly 2..N+1
    assert errors == []
    assert sorted(pipeline.versions.values_list("number", flat=True)) == list(range(1, WRITERS + 2))


def test_concurrent_promotes_chain_in_the_history(pipeline):
    versions = [
        pipelines.pipeline_version_create(pipeline=pipeline, stages=[{"model": f"m{i}"}]) for i in range(WRITERS)
    ]
    # When every version is promoted at once
    errors = run_at_once([lambda v=v: pipelines.pipeline_promote(version=v) for v in versions])
    # Then each promote saw the production the one before it made: the history is one chain
    assert errors == []
    history = list(PipelineDeployment.objects.order_by("id"))
    assert len(history) == WRITERS + 1
    for before, after in itertools.pairwise(history):
        assert after.from_version_id == before.to_version_id
    pipeline.refresh_from_db()
    assert pipeline.production_version_id == history[-1].to_version_id
