"""Training jobs: a version trained on a dataset into the model's next version, with lineage, off the request path.

``training_start`` checks and stores a queued job, then hands it to a Celery worker, or in the embedded default
(no broker) to a thread of this process (``serving.jobs``). ``run`` starts from the version's artifact or, with
``start="live"``, from its live state in this process's replica (warm start), and learns the dataset
(``serving.trainers``). After every RHYTHMIC_TRAINING_CHUNK rows it stores the progress (its heartbeat), tells
the ``training`` observers (a live event) and checks for a cancel. At the end it registers the trained state
through the catalogue's ``model_version_register`` (parent, dataset, params, metrics), validates it as any
upload, and promotes it if asked. A running job without a heartbeat for RHYTHMIC_TRAINING_STALE_SECONDS lost
its runner (a killed worker) and is marked failed when it is read, listed, cancelled or swept by beat.
"""

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalogue import artifacts, services
from catalogue.datasets import dataset_rows
from catalogue.datasets.selectors import dataset_get, dataset_get_by_name
from catalogue.errors import Conflict, InvalidInput
from catalogue.flavors import get_flavor
from catalogue.models import Dataset, MLModel, ModelVersion
from serving import jobs, observers, trainers
from serving.models import TrainingJob
from serving.process import current
from serving.trainers import TrainingFailed

logger = logging.getLogger(__name__)

Status = TrainingJob.Status
KINDS = ("train",)
DEFAULT_HOLDOUT = 0.2


class _NoLongerRunning(Exception):
    """The job's row is no longer running (marked failed as stale, or deleted with its model): stop."""


# --- services ----------------------------------------------------------------------------------


def _dataset(value: Any) -> Dataset:
    found = None
    if isinstance(value, int) and not isinstance(value, bool):
        found = dataset_get(dataset_id=value)
    elif isinstance(value, str) and value.strip():
        found = dataset_get(dataset_id=value) if value.strip().isdigit() else dataset_get_by_name(name=value.strip())
    else:
        raise InvalidInput(f"dataset must be a dataset's id (or name), not {value!r}", field="dataset")
    if found is None:
        raise InvalidInput(f"there is no dataset {value!r}: upload one first (POST /api/v1/datasets/)", field="dataset")
    return found


def _holdout(value: Any) -> float:
    if value is None:
        return DEFAULT_HOLDOUT
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise InvalidInput(f"holdout must be a number from 0 up to (not including) 1, not {value!r}", field="holdout")
    return float(value)


def training_start(
    *,
    model: MLModel,
    version: Any,
    dataset: Any,
    kind: str = "train",
    start: str = TrainingJob.Start.ARTIFACT,
    params: Any = None,
    method: str = "",
    holdout: Any = None,
    promote: bool = False,
    message: str = "",
    user=None,
) -> TrainingJob:
    """Queue a job training version ``version`` (its number) of ``model`` on ``dataset`` (an id or a name) and
    start it off the request path. ``start``: "artifact" (the uploaded bytes) or "live" (its learned state)."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of: {', '.join(KINDS)}; got {kind!r}", field="kind")
    number = jobs.whole(version, "version", minimum=1)
    found = ModelVersion.objects.without_artifact().filter(model=model, number=number).first()
    if found is None:
        raise InvalidInput(f"{model.name} has no version {number}", field="version")
    if found.status in (ModelVersion.Status.PENDING, ModelVersion.Status.VALIDATING):
        raise Conflict(f"{model.name} v{number} is still being validated: train it once it is ready")
    if found.status == ModelVersion.Status.FAILED:
        summary = (found.validation_report or {}).get("summary", "")
        raise Conflict(f"{model.name} v{number} failed validation{f' ({summary})' if summary else ''}: it cannot train")
    if start not in TrainingJob.Start.values:
        raise InvalidInput(f"from must be 'artifact' or 'live', not {start!r}", field="from")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidInput(
            'params must be a JSON object of keyword arguments, like {"sample_weight": null}', field="params"
        )
    if start == TrainingJob.Start.LIVE and params:
        raise InvalidInput(
            "params re-create the model untrained, while from 'live' starts from its learned state: give one or "
            "the other",
            field="params",
        )
    if method not in ("", TrainingJob.Method.FIT, TrainingJob.Method.PARTIAL_FIT):
        raise InvalidInput(
            f"method must be 'fit' or 'partial_fit' (scikit-learn models), not {method!r}", field="method"
        )
    if not isinstance(message, str) or len(message) > 500:
        raise InvalidInput("message must be text of at most 500 characters", field="message")
    rows = _dataset(dataset)
    _check_trainable(found, model=model, params=params, method=method)
    with transaction.atomic():
        job = TrainingJob.objects.create(
            model=model,
            version=found,
            dataset=rows,
            dataset_name=rows.name,
            start=start,
            method=method,
            params=params,
            holdout=_holdout(holdout),
            promote=bool(promote),
            message=message,
            rows_total=rows.rows,
            created_by=user if jobs.is_user(user) else None,
        )
        transaction.on_commit(lambda: _dispatch(job.pk))
    return job


def training_cancel(*, job: TrainingJob, user=None) -> TrainingJob:
    """Cancel a queued job at once, or ask a running one to stop after its current chunk of rows; one whose
    runner stopped (no heartbeat for RHYTHMIC_TRAINING_STALE_SECONDS) is cancelled at once."""
    now = timezone.now()
    done = {"status": Status.CANCELLED, "cancel_requested": True, "finished_at": now}
    cancelled = TrainingJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(**done)
    if not cancelled:
        cancelled = _stale(now).filter(pk=job.pk).update(**done)
    if not cancelled and not TrainingJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(cancel_requested=True):
        job.refresh_from_db()
        raise Conflict(f"training job {job.pk} has already {job.status}: there is nothing to cancel")
    job.refresh_from_db()
    if cancelled:
        _announce(job)
    return job


def training_recover_stale(*, model: MLModel | None = None, now: datetime | None = None) -> int:
    """Mark failed every running job (of ``model``) whose runner stopped; returns how many."""
    now = now or timezone.now()
    stale = _stale(now)
    if model is not None:
        stale = stale.filter(model=model)
    recovered = 0
    for pk, done, total in stale.values_list("pk", "rows_done", "rows_total"):
        error = f"its runner stopped (worker killed or restarted?) at row {done} of {total}; start it again"
        if _stale(now).filter(pk=pk).update(status=Status.FAILED, error=error, finished_at=now):
            recovered += 1
            logger.warning("training job %s: %s", pk, error)
            _announce(_jobs().get(pk=pk))
    return recovered


def _stale(now: datetime):
    cutoff = now - timedelta(seconds=settings.RHYTHMIC_TRAINING_STALE_SECONDS)
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    return TrainingJob.objects.filter(silent, status=Status.RUNNING)


def _jobs():
    return TrainingJob.objects.select_related("model", "version", "result", "created_by").defer(
        "version__artifact", "result__artifact"
    )


def training_list(*, model: MLModel, recover: bool = True):
    """The model's training jobs, newest first; running ones whose runner stopped are marked failed first."""
    if recover:
        training_recover_stale(model=model)
    return _jobs().filter(model=model)


def training_get(*, model: MLModel, job_id: Any, recover: bool = True) -> TrainingJob | None:
    try:
        pk = int(job_id)
    except (TypeError, ValueError):
        return None
    return training_list(model=model, recover=recover).filter(pk=pk).first()


def wait(job_id: int, *, timeout: float = 600.0) -> TrainingJob:
    """The job once finished (or as it is after ``timeout`` seconds): joins it if it runs on a thread of this
    process, else reads its row every so often (a worker in another process writes it)."""
    deadline = time.monotonic() + timeout
    jobs.join("training", job_id, timeout)
    job = _jobs().get(pk=job_id)
    while not job.finished and time.monotonic() < deadline:
        time.sleep(0.2)  # another process writes the row: there is nothing here to await
        training_recover_stale(model=job.model)
        job = _jobs().get(pk=job_id)
    return job


# --- running -----------------------------------------------------------------------------------


def _dispatch(job_id: int) -> None:
    from serving import tasks  # tasks import this module

    if tasks.run_training.app.conf.task_always_eager:
        jobs.run_on_thread("training", job_id, run)
    else:
        tasks.run_training.delay(job_id)


def run(job_id: int) -> str:
    """Run a queued job to its end; returns its final status (a job not queued is left alone)."""
    now = timezone.now()
    if not TrainingJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now
    ):
        return _status(job_id)
    job = _jobs().get(pk=job_id)
    _announce(job)
    try:
        return _train(job)
    except _NoLongerRunning:
        return _status(job_id)
    except (TrainingFailed, artifacts.ArtifactError) as exc:
        return _finish(job, Status.FAILED, error=str(exc))
    except Exception as exc:
        logger.exception("training job %s failed", job_id)
        return _finish(job, Status.FAILED, error=f"training failed: {type(exc).__name__}: {exc}")


def _status(job_id: int) -> str:
    return TrainingJob.objects.filter(pk=job_id).values_list("status", flat=True).first() or "missing"


def _check_trainable(version: ModelVersion, *, model: MLModel, params: dict, method: str) -> None:
    """Answer now (400) what the job would refuse when it starts: an ONNX model, a method the model has not, a
    parameter a river model has not. Loading the artifact here costs what its validation cost at upload."""
    data, fmt = ModelVersion.objects.filter(pk=version.pk).values_list("artifact", "format").get()
    try:
        servable = artifacts.as_servable(artifacts.load_artifact(bytes(data), fmt), get_flavor(model.flavor))
    except artifacts.ArtifactError:
        return  # the job fails saying why it could not load
    number = version.number
    if servable.kind == "online":
        if method:
            raise InvalidInput(
                f"v{number} is a river model: it learns row by row (learn_one); method is for scikit-learn",
                field="method",
            )
        try:
            trainers.river_params(servable.obj, params)
        except TrainingFailed as exc:
            raise InvalidInput(str(exc), field="params") from None
    elif servable.kind == "batch":
        if method and not callable(getattr(servable.obj, method, None)):
            raise InvalidInput(
                f"v{number} ({type(servable.obj).__name__}) has no {method}: it cannot train that way", field="method"
            )
    else:
        raise InvalidInput(
            f"v{number} is an ONNX model: it cannot be trained here (train it, then upload it)", field="version"
        )


def _starting_point(job: TrainingJob) -> tuple[Any, dict]:
    """The model object training starts from, and what to record about it."""
    number = job.version.number
    if job.start == TrainingJob.Start.LIVE:
        entry = current().replicas.entry(job.model.name)
        with entry.lock:
            replica = entry.replica(job.version_id)
            # A copy: training must not change the replica that serves.
            obj = artifacts.load_state(artifacts.dump_state(replica.servable.obj))
            return obj, {"start": "live", "state_seq": entry.applied_seq, "n_learned_before": replica.n_learned}
    data, fmt = ModelVersion.objects.filter(pk=job.version_id).values_list("artifact", "format").get()
    try:
        return artifacts.load_artifact(bytes(data), fmt), {"start": "artifact"}
    except artifacts.ArtifactError as exc:
        raise TrainingFailed(f"v{number} could not be loaded: {exc}") from None


def _train(job: TrainingJob) -> str:
    dataset = Dataset.objects.filter(pk=job.dataset_id).first()
    if dataset is None:
        raise TrainingFailed(f"dataset {job.dataset_name!r} was deleted before the job started")
    flavor = get_flavor(job.model.flavor)
    obj, origin = _starting_point(job)
    servable = artifacts.as_servable(obj, flavor)
    number = job.version.number

    def report(done: int, metrics: dict) -> bool:
        total = job.rows_total
        _save(job, rows_done=done, progress=min(1.0, done / total) if total else 1.0, metrics={**origin, **metrics})
        requested = TrainingJob.objects.filter(pk=job.pk).values_list("cancel_requested", flat=True).first()
        return requested is None or requested

    rows = dataset_rows(dataset)
    if servable.kind == "online":
        if job.method:
            raise TrainingFailed(
                f"v{number} is a river model: it learns row by row (learn_one); method is for scikit-learn"
            )
        obj = trainers.river_params(servable.obj, job.params)
        servable = artifacts.as_servable(obj, flavor)
        _save(job, method=TrainingJob.Method.LEARN_ONE)
        summary = trainers.train_online(
            servable=servable, flavor=flavor, options=job.model.options, rows=rows, report=report
        )
    elif servable.kind == "batch":
        method = job.method or TrainingJob.Method.FIT
        if not callable(getattr(servable.obj, method, None)):
            raise TrainingFailed(f"v{number} ({type(servable.obj).__name__}) has no {method}: it cannot train that way")
        _save(job, method=method)
        features = [column["name"] for column in dataset.columns if column["name"] != dataset.target]
        summary = trainers.train_batch(
            servable=servable,
            flavor=flavor,
            options=job.model.options,
            rows=rows,
            n_rows=dataset.rows,
            features=features,
            method=method,
            params=job.params,
            holdout=job.holdout,
            report=report,
        )
    else:
        raise TrainingFailed(f"v{number} is an ONNX model: it cannot be trained here (train it, then upload it)")
    if summary is None:
        return _finish(job, Status.CANCELLED)
    return _register(job, dataset, servable.obj, {**origin, **summary})


def _register(job: TrainingJob, dataset: Dataset, obj: Any, metrics: dict) -> str:
    """Store the trained state as the next version (parent, dataset, params, metrics), validate it, promote it."""
    parent = job.version
    with transaction.atomic():
        locked = TrainingJob.objects.select_for_update().filter(pk=job.pk, status=Status.RUNNING).first()
        if locked is None:
            raise _NoLongerRunning
        if locked.cancel_requested:
            return _finish(job, Status.CANCELLED)
        version, created = services.model_version_register(
            model=job.model,
            data=artifacts.dump_state(obj),
            fmt="dill",
            message=job.message or f"v{parent.number} trained on dataset {dataset.name} ({job.rows_total} rows)",
            requirements=parent.requirements,
            input_example=parent.input_example,
            author=job.created_by,
            parent=parent,
            validate=False,  # validated below, in this job, with the same checks as an upload
            dataset=dataset,
            params=job.params,
            training_metrics=metrics,
        )
        _save(job, result=version, metrics=metrics, progress=1.0)
    if not created:
        return _finish(job, Status.SUCCEEDED, error=f"the trained state is the same as v{version.number}'s: kept that")
    validated = services.model_version_validate(version_id=version.pk)
    if validated is None or validated.status != ModelVersion.Status.READY:
        summary = (validated.validation_report or {}).get("summary", "") if validated else "it was deleted"
        return _finish(job, Status.FAILED, error=f"trained into v{version.number}, which failed validation: {summary}")
    if job.promote:
        try:
            services.deployment_promote(version=validated, user=job.created_by, note=f"training job {job.pk}")
        except Conflict as exc:
            return _finish(job, Status.FAILED, error=f"trained into v{version.number}, but promoting it failed: {exc}")
    return _finish(job, Status.SUCCEEDED)


def _finish(job: TrainingJob, status: str, *, error: str = "") -> str:
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now(), "error": error}
    if status == Status.SUCCEEDED:
        fields["progress"] = 1.0
    try:
        _save(job, **fields)
    except _NoLongerRunning:
        return _status(job.pk)
    return status


def _save(job: TrainingJob, **fields: Any) -> None:
    """Store ``fields`` with a heartbeat, only while the row is running, and announce."""
    fields["heartbeat_at"] = timezone.now()
    if not TrainingJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(**fields):
        raise _NoLongerRunning
    for name, value in fields.items():
        setattr(job, name, value)
    _announce(job)


def _announce(job: TrainingJob) -> None:
    observers.notify("training", model=job.model.name, job=as_event(job))


def as_event(job: TrainingJob) -> dict:
    """What a live listener needs to draw the job's row: its state, progress, metrics and result."""
    return {
        "id": job.pk,
        "version": job.version.number,
        "dataset": job.dataset_name,
        "from": job.start,
        "method": job.method,
        "status": job.status,
        "progress": job.progress,
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "metrics": job.metrics,
        "result_version": job.result.number if job.result_id and job.result else None,
        "error": job.error,
    }
