"""Deploys with real components: two server processes registered as instances (PostgreSQL, Redis channel layer)
and a real Celery worker that runs the deploy, asks both over the channel layer to pre-load, then switches."""

import os
import time

import dill
import pytest

from catalogue.models import MLModel, ModelVersion
from serving import deploy, tasks
from serving.models import Instance
from tests import factories
from tests.integration.conftest import celery_worker  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="commands cross processes through Redis"),
]

SERVER = {"RHYTHMIC_HEARTBEAT_SECONDS": "0.5", "RHYTHMIC_REGISTER_INSTANCES": "1", "RHYTHMIC_LOCATION": "us"}


@pytest.fixture
def deploy_worker(celery_worker, monkeypatch):  # noqa: F811
    """The worker; deploys queued by this test go to its private queue."""
    queue = celery_worker.queue
    monkeypatch.setattr(tasks.run_deployment, "delay", lambda *a: tasks.run_deployment.apply_async(a, queue=queue))
    return celery_worker


def eventually(read, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if check(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {timeout} s"
        time.sleep(0.1)  # the servers write their rows from other processes


def production(model) -> int:
    return MLModel.objects.get(pk=model.pk).production_version.number


def test_a_worker_deploys_to_two_live_servers_only_once_both_preloaded(start_server, deploy_worker):
    # Given a model at location "us" with v1 in production, and two servers of "us" beating
    us = factories.LocationFactory(name="us")
    factories.LocationFactory(name="eu")
    model = factories.MLModelFactory(name="live", location=us)
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor()))
    v2 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor(intercept=2.0)))
    v3 = factories.ModelVersionFactory(
        model=model, artifact=dill.dumps(factories.river_regressor(intercept=3.0)), requirements="no-such-package>=1"
    )
    MLModel.objects.filter(pk=model.pk).update(production_version=v1)
    servers = [start_server(**SERVER), start_server(**SERVER)]
    pids = {server.process.pid for server in servers}
    rows = eventually(
        lambda: list(Instance.objects.filter(pid__in=pids, channel__gt="")), lambda found: len(found) == 2
    )
    keys = sorted(row.key for row in rows)

    # When the worker deploys v2 to "us"
    task = deploy.wait(deploy.deploy(version=v2, note="both").pk, timeout=90)
    # Then both servers pre-loaded it before production switched, and the deploy records both
    assert task.status == "succeeded", (task.reason, deploy_worker.log())
    assert sorted(p.instance_key for p in task.preloads.all()) == keys
    assert {p.status for p in task.preloads.all()} == {"ready"}
    assert all(p.ready_at <= task.deployment.created_at for p in task.preloads.all())
    assert production(model) == 2

    # And each server's heartbeat reports v2 loaded
    def loaded(key: str) -> list[int]:
        return Instance.objects.get(key=key).models.get("live", {}).get("versions", [])

    for key in keys:
        eventually(lambda key=key: loaded(key), lambda versions: 2 in versions)

    # When v1 is deployed to "eu", where no instance is live
    failed = deploy.wait(deploy.deploy(version=v1, location="eu").pk, timeout=90)
    # Then it fails saying so, and production stays v2 at "us"
    assert (failed.status, failed.reason) == ("failed", "no live instance serves location 'eu'")
    assert production(model) == 2
    assert MLModel.objects.get(pk=model.pk).location.name == "us"

    # When v3, which requires a package the servers lack, is deployed
    refused = deploy.wait(deploy.deploy(version=v3).pk, timeout=90)
    # Then it is refused naming the package and each instance, before any pre-load
    assert refused.status == "failed"
    for key in keys:
        assert f"instance {key} lacks package no-such-package (v3 needs no-such-package>=1)" in refused.reason
    assert not refused.preloads.exists()
    assert production(model) == 2
    assert ModelVersion.objects.get(pk=v3.pk).status == "ready"
