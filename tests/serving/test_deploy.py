"""serving.deploy: checks, per-instance pre-loads, the switch only when all are ready, and why it fails."""

import os
import socket
import threading
import time

import dill
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

import serving
from catalogue import services
from catalogue.errors import Conflict, InvalidInput
from catalogue.models import ModelVersion
from serving import deploy
from serving.models import DeploymentTask, Instance, Preload
from serving.process import ServingProcess, acting_as, current
from tests import factories
from tests.monitoring.test_prometheus import scrape

pytestmark = pytest.mark.django_db
Status = DeploymentTask.Status


@pytest.fixture
def taxi(db):
    """A live regression model (v1 learned 5 events) with a ready v2, at no location."""
    model = factories.MLModelFactory(name="taxi", flavor="regression")
    v1 = factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor()))
    factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor(intercept=1.0)))
    services.deployment_promote(version=v1)
    for i in range(5):
        serving.learn(model="taxi", features={"x": float(i)}, ground_truth=float(i))
    current().reset()  # as a process that has not loaded anything yet
    return model


def version(model, number: int) -> ModelVersion:
    return model.versions.get(number=number)


def other_instance(*, location: str = "", packages: dict | None = None, key: str = "elsewhere:4242:1") -> Instance:
    """Another process's row, beating now."""
    now = timezone.now()
    host, pid, _ = key.split(":")
    return Instance.objects.create(
        key=key,
        host=host,
        pid=int(pid),
        kind=Instance.Kind.WSGI,
        location=location,
        started_at=now,
        last_beat=now,
        runtime={"python": "3.11", "packages": packages if packages is not None else {"river": "0.22.0"}},
    )


def production(model) -> int | None:
    model.refresh_from_db()
    return model.production_version.number if model.production_version else None


def test_a_deploy_preloads_the_version_in_this_process_then_switches_and_records_it(taxi, _this_process_serves):
    # When v2 is deployed (inline: no broker), with this process as the only instance
    task = deploy.deploy(version=version(taxi, 2), note="go")
    task = deploy.get(task.pk)
    # Then it succeeded, production is v2, and the switch is linked
    assert task.status == DeploymentTask.Status.SUCCEEDED, task.reason
    assert production(taxi) == 2
    assert (task.deployment.from_version.number, task.deployment.to_version.number) == (1, 2)
    assert task.deployment.note == "go"
    # And this process's replica of v2 was loaded by the pre-load, at the log's head
    (preload,) = task.preloads.all()
    assert (preload.instance_key, preload.status, preload.applied_seq) == (_this_process_serves.key, "ready", 5)
    assert current().loaded()["taxi"].versions == (2,)


@pytest.mark.no_instance
def test_a_deploy_with_no_live_instance_fails_and_production_stays(taxi):
    task = deploy.deploy(version=version(taxi, 2))
    task.refresh_from_db()
    assert (task.status, task.reason) == ("failed", "no live instance serves no location")
    assert production(taxi) == 1
    assert task.finished_at is not None


@pytest.mark.no_instance
def test_instances_of_another_location_do_not_count(taxi):
    eu = factories.LocationFactory(name="eu")
    type(taxi).objects.filter(pk=taxi.pk).update(location=eu)
    other_instance(location="us")
    task = deploy.deploy(version=version(taxi, 2))
    task.refresh_from_db()
    assert task.reason == "no live instance serves location 'eu'"
    assert production(taxi) == 1


@pytest.mark.no_instance
def test_a_lost_instance_does_not_count(taxi, settings):
    instance = other_instance()
    Instance.objects.filter(pk=instance.pk).update(last_beat=timezone.now() - timezone.timedelta(minutes=5))
    task = deploy.deploy(version=version(taxi, 2))
    task.refresh_from_db()
    assert task.reason == "no live instance serves no location"


def test_a_version_requiring_a_package_an_instance_lacks_is_refused_naming_both(taxi):
    # Given v2 requires scipy, and an instance that reports no scipy
    ModelVersion.objects.filter(pk=version(taxi, 2).pk).update(requirements="river\nscipy>=1.0\n")
    other_instance(packages={"river": "0.22.0"})
    # When it is deployed
    task = deploy.deploy(version=version(taxi, 2))
    task.refresh_from_db()
    # Then it failed before asking anyone to pre-load, naming the package and the instance
    assert task.status == "failed"
    assert task.reason == "instance elsewhere:4242:1 lacks package scipy (v2 needs scipy>=1.0)"
    assert not task.preloads.exists()
    assert production(taxi) == 1


def test_a_package_at_a_version_outside_the_requirement_is_refused(taxi):
    ModelVersion.objects.filter(pk=version(taxi, 2).pk).update(requirements="river>=99")
    other_instance(packages={"River": "0.22.0"})
    task = deploy.deploy(version=version(taxi, 2))
    task.refresh_from_db()
    assert task.reason.startswith("instance elsewhere:4242:1 has river 0.22.0, v2 needs river>=99; instance ")


def test_an_onnx_version_needs_onnxruntime_on_every_instance():
    v = ModelVersion(number=3, format=ModelVersion.Format.ONNX, requirements="")
    assert deploy.missing(v, Instance(key="a:1:1", runtime={"packages": {}})) == [
        "instance a:1:1 lacks package onnxruntime (v3 needs onnxruntime)"
    ]


def test_an_instance_that_never_answers_fails_the_deploy_at_its_timeout(taxi):
    other_instance()
    task = deploy.deploy(version=version(taxi, 2), timeout_s=0.3)
    task.refresh_from_db()
    assert task.status == "failed"
    assert task.reason == "timed out after 0.3 s waiting for instance(s) elsewhere:4242:1"
    assert production(taxi) == 1
    states = dict(task.preloads.values_list("instance_key", "status"))
    assert states == {"elsewhere:4242:1": "asked", f"{socket.gethostname()}:{os.getpid()}:test": "ready"}


def test_an_instance_that_cannot_load_the_version_fails_the_deploy_with_its_error(taxi):
    ModelVersion.objects.filter(pk=version(taxi, 2).pk).update(artifact=b"not a pickle")
    task = deploy.deploy(version=version(taxi, 2))
    task.refresh_from_db()
    assert task.status == "failed"
    assert task.reason.startswith(f"instance {socket.gethostname()}:{os.getpid()}:test could not pre-load v2: ")
    assert production(taxi) == 1


def test_the_beat_hook_preloads_what_an_instance_was_asked_and_missed(taxi):
    # Given a deploy waiting on another instance (whose command never arrived)
    instance = other_instance()
    task = DeploymentTask.objects.create(
        model=taxi, version=version(taxi, 2), timeout_s=5, status=DeploymentTask.Status.PRELOADING
    )
    row = Preload.objects.create(task=task, instance_key=instance.key, host=instance.host, pid=instance.pid)
    # When that instance beats (as another process)
    with acting_as(ServingProcess()) as other:
        deploy.on_beat(instance)
        loaded = other.loaded()["taxi"].versions
    # Then it loaded v2 and said so
    row.refresh_from_db()
    assert (row.status, row.applied_seq, loaded) == ("ready", 5, (2,))
    # And a second beat does nothing more
    deploy.on_beat(instance)
    assert Preload.objects.get(pk=row.pk).ready_at == row.ready_at


def test_the_preload_command_loads_the_version_named_by_its_row(taxi):
    instance = other_instance()
    task = DeploymentTask.objects.create(model=taxi, version=version(taxi, 2), timeout_s=5, status="preloading")
    row = Preload.objects.create(task=task, instance_key=instance.key, host=instance.host, pid=instance.pid)
    deploy.on_preload({"type": "instance.command", "command": "preload", "preload": row.pk})
    assert Preload.objects.get(pk=row.pk).status == "ready"


@pytest.mark.django_db(transaction=True)
def test_a_deploy_waits_for_every_instance_and_records_each(taxi, _this_process_serves):
    # Given another instance, which pre-loads at its beat (on its own thread, as another process)
    instance = other_instance()
    result = {}
    worker = threading.Thread(target=lambda: result.update(task=deploy.deploy(version=version(taxi, 2))))
    worker.start()
    deadline = time.monotonic() + 30
    while not Preload.objects.filter(instance_key=instance.key).exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the deploy runs on the other thread
    assert production(taxi) == 1  # not switched before every instance is ready
    with acting_as(ServingProcess()):
        deploy.on_beat(instance)
    worker.join(30)
    task = deploy.get(result["task"].pk)
    assert task.status == "succeeded", task.reason
    assert sorted(p.status for p in task.preloads.all()) == ["ready", "ready"]
    assert production(taxi) == 2


def test_a_deploy_to_another_location_moves_the_model_in_the_same_switch(taxi):
    factories.LocationFactory(name="eu")
    task = deploy.deploy(version=version(taxi, 2), location="eu")
    task.refresh_from_db()
    assert task.status == "succeeded", task.reason
    taxi.refresh_from_db()
    assert (taxi.location.name, taxi.production_version.number) == ("eu", 2)


def test_moving_the_version_already_in_production_is_a_deployment_too(taxi):
    factories.LocationFactory(name="eu")
    task = deploy.deploy(version=version(taxi, 1), location="eu")
    task.refresh_from_db()
    assert task.status == "succeeded", task.reason
    assert (task.deployment.from_version.number, task.deployment.to_version.number) == (1, 1)
    taxi.refresh_from_db()
    assert taxi.location.name == "eu"


def test_a_version_already_in_production_there_is_a_conflict(taxi):
    with pytest.raises(Conflict, match="taxi v1 is already in production at no location"):
        deploy.deploy(version=version(taxi, 1))
    assert not DeploymentTask.objects.exists()


def test_a_version_not_ready_is_a_conflict(taxi):
    v3 = factories.ModelVersionFactory(model=taxi, status=ModelVersion.Status.FAILED)
    with pytest.raises(Conflict, match="only ready versions can be promoted; taxi v3 is failed"):
        deploy.deploy(version=v3)


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        ("5", "timeout_s must be a number of seconds, not '5'"),
        (True, "timeout_s must be a number of seconds, not True"),
        (0, "timeout_s must be above 0 and at most 3600, not 0"),
        (-1.5, "timeout_s must be above 0 and at most 3600, not -1.5"),
        (1e9, "timeout_s must be above 0 and at most 3600, not 1000000000.0"),
        (float("nan"), "timeout_s must be a number of seconds, not nan"),
    ],
)
def test_a_bad_timeout_is_refused_naming_the_field(taxi, timeout, message):
    with pytest.raises(InvalidInput) as raised:
        deploy.deploy(version=version(taxi, 2), timeout_s=timeout)
    assert (raised.value.message, raised.value.field) == (message, "timeout_s")


def test_an_unknown_location_is_refused_naming_the_field(taxi):
    with pytest.raises(InvalidInput) as raised:
        deploy.deploy(version=version(taxi, 2), location="mars")
    assert raised.value.message == "no location named 'mars' (GET /api/v1/locations/ lists them)"
    assert raised.value.field == "location"


@pytest.mark.no_instance
def test_the_cli_promote_says_why_the_deploy_failed(taxi):
    with pytest.raises(CommandError, match="the deploy failed: no live instance serves no location"):
        call_command("promote", "taxi", "--version", "2")
    assert production(taxi) == 1


def test_the_cli_promote_is_a_deploy(taxi):
    call_command("promote", "taxi", "--version", "2")
    assert DeploymentTask.objects.get().status == "succeeded"
    assert production(taxi) == 2


@pytest.mark.no_instance
def test_prometheus_counts_deploys_by_status(taxi, anon_client):
    deploy.deploy(version=version(taxi, 2))  # fails: no instance
    samples = scrape(anon_client)
    counts = {status: samples[("rhythmic_deployments", frozenset({"status": status}.items()))] for status in Status}
    assert counts == {"pending": 0, "preloading": 0, "succeeded": 0, "failed": 1}


def test_a_deploy_of_a_model_with_one_still_running_is_a_conflict(taxi):
    running = DeploymentTask.objects.create(model=taxi, version=version(taxi, 2), timeout_s=60)
    with pytest.raises(Conflict, match=f"deploy {running.pk} of taxi v2 is still running"):
        deploy.deploy(version=version(taxi, 2))
    assert DeploymentTask.objects.count() == 1


def test_a_deploy_whose_runner_stopped_is_failed_past_its_timeout_and_the_model_deploys_again(taxi):
    stale = DeploymentTask.objects.create(model=taxi, version=version(taxi, 2), timeout_s=10, status=Status.PRELOADING)
    old = timezone.now() - timezone.timedelta(seconds=10 + deploy.STALE_GRACE_S + 1)
    DeploymentTask.objects.filter(pk=stale.pk).update(created_at=old)
    assert deploy.get(stale.pk).status == Status.FAILED  # reading it finds it stale
    assert "its runner stopped" in deploy.get(stale.pk).reason
    assert production(taxi) == 1
    assert deploy.get(deploy.deploy(version=version(taxi, 2)).pk).status == Status.SUCCEEDED


def test_a_running_deploy_within_its_timeout_is_not_stale(taxi):
    task = DeploymentTask.objects.create(model=taxi, version=version(taxi, 2), timeout_s=10, status=Status.PRELOADING)
    assert deploy.expire_stale(model=taxi) == 0
    assert deploy.get(task.pk).status == Status.PRELOADING
