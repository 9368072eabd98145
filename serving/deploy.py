"""Deployments as tasks: a version goes to production at a location only once every live instance there has it.

``deploy`` checks the request and stores a ``DeploymentTask``; ``run`` (the Celery task ``serving.run_deployment``,
inline in the embedded default) takes the location's live instances (``serving.instances.live``), checks the
version's requirements against the packages each one reported, asks each one to pre-load the version (the
"preload" command; an instance that missed it finds its ``Preload`` row at its next beat), waits until all are
ready, one failed or the timeout passed, and only then switches production (and the model's location, for a
move) in one transaction. Whatever stops it leaves production as it was and says why in ``reason``.

The process that runs the deploy pre-loads its own replica in-process when it is one of the instances (the
embedded default: the server runs its deploys inline), instead of sending itself a message.
"""

import logging
import os
import socket
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from catalogue import selectors, services
from catalogue.errors import Conflict, InvalidInput, NotFound, RhythmicError
from catalogue.models import Deployment, Location, ModelVersion
from serving import instances, jobs, observers
from serving.models import DeploymentTask, Instance, Preload
from serving.process import current

logger = logging.getLogger(__name__)
Status = DeploymentTask.Status

#: The most a deploy may wait for its instances (a request asking more is refused).
MAX_TIMEOUT_S = 3600.0
#: How long a promote from a page, the admin or REST waits for its deploy before it answers "still deploying".
PROMOTE_WAIT_S = 10.0
#: A deploy not finished this long after its own timeout lost its runner (a worker killed mid-deploy): it is
#: marked failed, and the model may be deployed again.
STALE_GRACE_S = 300.0
#: Packages a version needs by its format alone, beside its declared requirements.
FORMAT_NEEDS = {ModelVersion.Format.ONNX: "onnxruntime"}
_UNSET: Any = object()


# --- asking -----------------------------------------------------------------------------------------------


def _timeout(value: Any) -> float:
    if value is None:
        return float(settings.RHYTHMIC_DEPLOY_TIMEOUT_SECONDS)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidInput(f"timeout_s must be a number of seconds, not {value!r}", field="timeout_s")
    if not 0 < value <= MAX_TIMEOUT_S:
        raise InvalidInput(f"timeout_s must be above 0 and at most {MAX_TIMEOUT_S:g}, not {value}", field="timeout_s")
    return float(value)


def _location(value: Any, model) -> Location | None:
    """The target: the model's location unless ``value`` names another (None or "": no location)."""
    if value is _UNSET:
        return model.location
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"location must be a location's name, not {value!r}", field="location")
    found = selectors.location_get(name=value)
    if found is None:
        raise InvalidInput(f"no location named {value!r} (GET /api/v1/locations/ lists them)", field="location")
    return found


def deploy(
    *, version: ModelVersion, location: Any = _UNSET, user=None, note: Any = "", timeout_s: Any = None
) -> DeploymentTask:
    """Store a deploy of ``version`` to ``location`` (a name; default the model's location) and start it: on a
    Celery worker, or inline here in the embedded default (no broker). Refuses what cannot succeed."""
    model = version.model
    model.refresh_from_db(fields=["production_version", "location"])
    target = _location(location, model)
    timeout = _timeout(timeout_s)
    if not isinstance(note, str):
        raise InvalidInput("note must be text", field="note")
    fresh = ModelVersion.objects.without_artifact().filter(pk=version.pk).first()
    if fresh is None:
        raise NotFound(f"{model.name} has no version {version.number}")
    if fresh.status != ModelVersion.Status.READY:
        raise Conflict(f"only ready versions can be promoted; {model.name} v{fresh.number} is {fresh.status}")
    if model.production_version_id == fresh.pk and model.location_id == getattr(target, "pk", None):
        raise Conflict(f"{model.name} v{fresh.number} is already in production at {_where(target)}")
    expire_stale(model=model)
    running = DeploymentTask.objects.filter(model=model, status__in=(Status.PENDING, Status.PRELOADING)).first()
    if running is not None:
        raise Conflict(
            f"deploy {running.pk} of {model.name} v{running.version.number} is still running: wait for it "
            f"(GET /api/v1/deployments/{running.pk}/) before deploying again",
            code="deploy_running",
            details={"deployment_task": running.pk},
        )
    task = DeploymentTask.objects.create(
        model=model,
        version=fresh,
        location=target,
        timeout_s=timeout,
        note=note[:500],
        created_by=user if jobs.is_user(user) else None,
    )
    _dispatch(task.pk)
    return task


def expire_stale(*, model=None) -> int:
    """Mark failed the unfinished deploys (of ``model``; of all) older than their timeout plus STALE_GRACE_S:
    their runner stopped (production was never switched by them). How many were."""
    now = timezone.now()
    unfinished = DeploymentTask.objects.filter(status__in=(Status.PENDING, Status.PRELOADING))
    if model is not None:
        unfinished = unfinished.filter(model=model)
    stale = [
        task.pk
        for task in unfinished.only("pk", "created_at", "timeout_s")
        if (now - task.created_at).total_seconds() > task.timeout_s + STALE_GRACE_S
    ]
    if not stale:
        return 0
    reason = "its runner stopped before it finished (a worker killed mid-deploy?); production was not switched by it"
    return DeploymentTask.objects.filter(pk__in=stale, status__in=(Status.PENDING, Status.PRELOADING)).update(
        status=Status.FAILED, reason=reason, finished_at=now
    )


def _dispatch(task_id: int) -> None:
    from serving import tasks  # tasks import this module

    if tasks.run_deployment.app.conf.task_always_eager:
        run(task_id)  # in this process (a request waits for it): its own replica pre-loads in-process
    else:
        transaction.on_commit(lambda: tasks.run_deployment.delay(task_id))


def get(task_id: Any) -> DeploymentTask | None:
    try:
        task_id = int(task_id)
    except (TypeError, ValueError):
        return None
    found = _tasks().filter(pk=task_id).first()
    if found is not None and not found.finished and expire_stale(model=found.model):
        found = _tasks().filter(pk=task_id).first()
    return found


def list_for(*, model) -> Any:
    return _tasks().filter(model=model)


def _tasks():
    return DeploymentTask.objects.select_related(
        "model", "version", "location", "created_by", "deployment__from_version", "deployment__to_version"
    ).prefetch_related("preloads")


def status_counts() -> dict[str, int]:
    """How many deploys there are in each status (every status, 0 included), for Prometheus."""
    counts = dict(DeploymentTask.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in Status.values}


def wait(task_id: int, *, timeout: float) -> DeploymentTask:
    """The task once finished, or as it is after ``timeout`` seconds (a worker in another process runs it)."""
    deadline = time.monotonic() + timeout
    task = _tasks().get(pk=task_id)
    while not task.finished and time.monotonic() < deadline:
        time.sleep(0.05)  # a worker writes the row: there is nothing here to await
        task = _tasks().get(pk=task_id)
    return task


def promote_task(*, version: ModelVersion, user=None, note: Any = "", wait_s: float = PROMOTE_WAIT_S) -> DeploymentTask:
    """A person's promote: a deploy to the model's location, waited for up to ``wait_s``; succeeded or still
    running (a worker runs it), or a Conflict that says why it failed (production unchanged)."""
    task = wait(deploy(version=version, user=user, note=note).pk, timeout=wait_s)
    if task.status == Status.FAILED:
        raise Conflict(f"the deploy failed: {task.reason}", code="deploy_failed", details={"deployment_task": task.pk})
    return task


def promote(*, version: ModelVersion, user=None, note: str = "") -> Deployment | None:
    """``promote_task`` as ``catalogue.services.deployment_deploy`` asks it: the Deployment, or None meanwhile."""
    task = promote_task(version=version, user=user, note=note)
    return task.deployment if task.status == Status.SUCCEEDED else None


# --- running ----------------------------------------------------------------------------------------------


def _where(location: Location | None) -> str:
    return f"location {location.name!r}" if location is not None else "no location"


def _is_this_process(instance: Instance) -> bool:
    return instance.pid == os.getpid() and instance.host == socket.gethostname()


def targets(location: Location | None) -> list[Instance]:
    """The live instances that serve ``location``, and this process when it is a registered instance that
    serves it (it is alive: it runs this code, whatever its last beat says)."""
    name = location.name if location is not None else ""
    found = {instance.key: instance for instance in instances.live(name)}
    own = Instance.objects.filter(
        Q(location=name) | Q(location=""), stopped_at__isnull=True, pid=os.getpid(), host=socket.gethostname()
    )
    found.update({instance.key: instance for instance in own})
    this = instances.this()  # registered, but its first beat may not have written its row yet
    if this is not None and this.location in (name, "") and this.key not in found:
        found[this.key] = this
    return sorted(found.values(), key=lambda instance: (instance.host, instance.pid))


def requirements_of(version: ModelVersion) -> list[Requirement]:
    """What the version declared (requirements.txt lines that apply) and what its format needs."""
    found = []
    for raw in (version.requirements or "").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue  # validation reported it; the version would not be ready
        if requirement.marker is None or requirement.marker.evaluate():
            found.append(requirement)
    needed = FORMAT_NEEDS.get(version.format)
    if needed and all(canonicalize_name(r.name) != needed for r in found):
        found.append(Requirement(needed))
    return found


def missing(version: ModelVersion, instance: Instance) -> list[str]:
    """The version's requirements the instance's reported packages do not meet, each named."""
    reported = (instance.runtime or {}).get("packages") or {}
    packages = {canonicalize_name(name): str(value) for name, value in reported.items()}
    problems = []
    for requirement in requirements_of(version):
        installed = packages.get(canonicalize_name(requirement.name))
        if installed is None:
            problems.append(
                f"instance {instance.key} lacks package {requirement.name} (v{version.number} needs {requirement})"
            )
        elif requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            problems.append(
                f"instance {instance.key} has {requirement.name} {installed}, v{version.number} needs {requirement}"
            )
    return problems


def run(task_id: int) -> str:
    """Run a pending deploy to its end; its final status (a task not pending is left alone)."""
    if not DeploymentTask.objects.filter(pk=task_id, status=Status.PENDING).update(status=Status.PRELOADING):
        return DeploymentTask.objects.filter(pk=task_id).values_list("status", flat=True).first() or "missing"
    task = DeploymentTask.objects.select_related("model", "version", "location").get(pk=task_id)
    _announce(task, Status.PRELOADING)
    try:
        return _run(task)
    except RhythmicError as exc:
        return _fail(task, exc.message)
    except Exception as exc:
        logger.exception("deployment task %s failed", task_id)
        return _fail(task, f"the deploy failed: {type(exc).__name__}: {exc}")


def _run(task: DeploymentTask) -> str:
    version = ModelVersion.objects.without_artifact().get(pk=task.version_id)
    serving = targets(task.location)
    if not serving:
        return _fail(task, f"no live instance serves {_where(task.location)}")
    problems = [problem for instance in serving for problem in missing(version, instance)]
    if problems:
        return _fail(task, "; ".join(problems))
    rows = {
        instance.key: Preload.objects.create(task=task, instance_key=instance.key, host=instance.host, pid=instance.pid)
        for instance in serving
    }
    deadline = time.monotonic() + task.timeout_s
    for instance in serving:
        if _is_this_process(instance):
            preload_row(rows[instance.key].pk)
        else:
            instances.send_command(instance, "preload", preload=rows[instance.key].pk)
    while True:
        states = dict(Preload.objects.filter(task=task).values_list("instance_key", "status"))
        failed = Preload.objects.filter(task=task, status=Preload.Status.FAILED).first()
        if failed is not None:
            return _fail(task, f"instance {failed.instance_key} could not pre-load v{version.number}: {failed.error}")
        if all(state == Preload.Status.READY for state in states.values()):
            break
        if time.monotonic() >= deadline:
            late = sorted(key for key, state in states.items() if state != Preload.Status.READY)
            return _fail(task, f"timed out after {task.timeout_s:g} s waiting for instance(s) {', '.join(late)}")
        time.sleep(0.05)  # instances write their rows from other processes: nothing here to await
    return _switch(task, version, serving)


def _switch(task: DeploymentTask, version: ModelVersion, serving: list[Instance]) -> str:
    previous = task.model.location
    with transaction.atomic():
        deployment = services.deployment_promote(
            version=version,
            user=task.created_by,
            note=task.note,
            location=task.location,
        )
        DeploymentTask.objects.filter(pk=task.pk).update(
            status=Status.SUCCEEDED, finished_at=timezone.now(), deployment=deployment
        )
    _announce(task, Status.SUCCEEDED)
    if getattr(previous, "pk", None) != getattr(task.location, "pk", None):
        _drop_elsewhere(task, previous, serving)
    return Status.SUCCEEDED


def _drop_elsewhere(task: DeploymentTask, previous: Location | None, serving: list[Instance]) -> None:
    """A move: the old location's instances that do not serve the new one drop the model."""
    keep = {instance.key for instance in serving}
    for instance in targets(previous):
        if instance.key in keep or instance.location == "":
            continue
        if _is_this_process(instance):
            current().forget(task.model.name)
        else:
            instances.send_command(instance, "drop", model=task.model.name)


def _fail(task: DeploymentTask, reason: str) -> str:
    DeploymentTask.objects.filter(pk=task.pk).update(status=Status.FAILED, reason=reason, finished_at=timezone.now())
    logger.info("deploy %s of %s v%s failed: %s", task.pk, task.model.name, task.version.number, reason)
    _announce(task, Status.FAILED)
    return Status.FAILED


def _announce(task: DeploymentTask, status: str) -> None:
    """The ``deploy_task`` observers: the model page's Deploys card follows them live."""
    event = {"id": task.pk, "status": status, "version": task.version.number}
    observers.notify("deploy_task", model=task.model.name, task=event)


# --- on every instance ------------------------------------------------------------------------------------


def preload_row(preload_id: int) -> str:
    """Load the version of an asked Preload into this process's replicas (checkpoint + tail) and say so."""
    row = Preload.objects.select_related("task__model", "task__version").filter(pk=preload_id).first()
    if row is None or row.status != Preload.Status.ASKED:
        return row.status if row is not None else "missing"
    try:
        entry = current().replicas.entry(row.task.model.name)
        with entry.lock:
            entry.replica(row.task.version_id)
            applied = entry.applied_seq
    except Exception as exc:
        logger.exception("pre-loading %s failed", row.task.version)
        error = exc.message if isinstance(exc, RhythmicError) else f"{type(exc).__name__}: {exc}"
        Preload.objects.filter(pk=row.pk, status=Preload.Status.ASKED).update(status=Preload.Status.FAILED, error=error)
        return Preload.Status.FAILED
    Preload.objects.filter(pk=row.pk, status=Preload.Status.ASKED).update(
        status=Preload.Status.READY, ready_at=timezone.now(), applied_seq=applied
    )
    return Preload.Status.READY


def on_preload(message: dict) -> None:
    """The "preload" command: ``{"preload": <Preload id>}``."""
    preload_row(int(message["preload"]))


def on_drop(message: dict) -> None:
    """The "drop" command: the model moved to a location this instance does not serve."""
    current().forget(str(message.get("model", "")))


def on_beat(instance: Instance) -> None:
    """At every beat: the pre-loads asked of this instance whose message it missed."""
    asked = Preload.objects.filter(
        instance_key=instance.key, status=Preload.Status.ASKED, task__status=Status.PRELOADING
    ).values_list("pk", flat=True)
    for preload_id in list(asked):
        preload_row(preload_id)


# --- what the pages show ----------------------------------------------------------------------------------

READY, LAGGING, IDLE = "ready", "lagging", "idle"


def serving_instances(*, model, among: list[Instance] | None = None) -> list[dict]:
    """The instances (not stopped) of the model's location, each with what it reported for the model: "ready"
    (its production version loaded, caught up), "lagging" (loaded, behind the log head), "idle" (not loaded: it
    loads at its first request) or "lost" (missed its beats). ``among``: the instances already read (a list page)."""
    where = model.location.name if model.location_id else ""
    production = model.production_version.number if model.production_version_id else None
    if among is None:
        among = list(Instance.objects.filter(stopped_at__isnull=True))
    found = []
    for instance in among:
        if instance.stopped_at is not None or instance.location not in (where, ""):
            continue
        reported = (instance.models or {}).get(model.name) or {}
        versions = reported.get("versions") or []
        if instances.status_of(instance) != instances.LIVE:
            status = instances.LOST
        elif production is None or production not in versions:
            status = IDLE
        else:
            status = LAGGING if reported.get("lag") else READY
        found.append({"instance": instance, "status": status, "versions": versions, "lag": reported.get("lag")})
    return found


def serving_counts(*, model, among: list[Instance]) -> dict[str, int]:
    """How many of the model's instances are ready, lagging, idle and lost (the catalogue's list)."""
    counts = {READY: 0, LAGGING: 0, IDLE: 0, instances.LOST: 0}
    for row in serving_instances(model=model, among=among):
        counts[row["status"]] += 1
    return counts
