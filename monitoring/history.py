"""Metric history: snapshots of the versions' online metrics, taken on this process's monitoring worker after a
learn (at most every RHYTHMIC_SNAPSHOT_SECONDS per model per process) and by the periodic task when a model
has learned since.

Snapshots are keyed by (version, state_seq): processes at the same state write the same row once.
"""

import json
import logging

from django.conf import settings

import serving
from catalogue.errors import RhythmicError
from catalogue.models import MLModel, ModelVersion
from monitoring import selectors, services, worker
from serving.process import ServingProcess, current

logger = logging.getLogger(__name__)


def route_summary(model: str, process: ServingProcess | None = None) -> dict[str, dict]:
    """The request stats of ``model`` per route in ``process`` (default: this one): count, mean, p50, p95,
    p99 (nanoseconds)."""
    return {
        route: {
            "count": s["n_calls"],
            "mean": s["mean_duration"],
            "p50": s["p50_duration"],
            "p95": s["p95_duration"],
            "p99": s["p99_duration"],
        }
        for route, s in (process or current()).route_stats(model=model).items()
    }


def snapshot_model(model: str, versions: list[int] | None = None, process: ServingProcess | None = None) -> int:
    """Store a snapshot of ``versions`` of ``model`` (default: its production version) as the serving core
    reports them now. Returns how many rows were offered (a duplicate of a stored state is ignored)."""
    rows = []
    model_id = None
    for number in versions or [None]:
        live = serving.metrics(model=model, version=number)
        version = (
            ModelVersion.objects.filter(model__name=model, number=live["version"]).values_list("pk", "model_id").first()
        )
        if version is None:
            continue
        version_id, model_id = version
        rows.append(
            {
                "version_id": version_id,
                "state_seq": live["state_seq"],
                "n_learned": live["n_learned"],
                "metrics": live["metrics"],
                "stats": route_summary(model, process),
            }
        )
    if not rows:
        return 0
    return services.snapshot_write(model_id=model_id, rows=rows)


def on_learn(*, model, learned, metrics, state_seq) -> None:
    """Observer: queue a snapshot of the versions that learned, at most every RHYTHMIC_SNAPSHOT_SECONDS."""
    process = current()
    if metrics and worker.monitor(process).due("snapshot", model, every=settings.RHYTHMIC_SNAPSHOT_SECONDS):
        # On this process's worker: the snapshot carries this process's request stats.
        worker.monitor(process).submit(_snapshot_after_learn, model=model, versions=sorted(metrics), process=process)


def _snapshot_after_learn(*, model: str, versions: list[int], process: ServingProcess) -> None:
    """Snapshot the versions that learned and every version learning beside production (canary, challengers),
    so the model's chart has each learning version's series at the same states, whichever answered."""
    row = MLModel.objects.filter(name=model).values_list("canary_version_id", "challenger_ids").first()
    if row is not None:
        versions = sorted({*versions, *_numbers_beside(*row)})
    try:
        snapshot_model(model, versions, process)
    except RhythmicError as exc:  # deleted, renamed or another version promoted since the learn
        logger.info("no snapshot of %s after its learn: %s", model, exc.message)


def snapshot_models() -> int:
    """The periodic task's work: snapshot each model whose production version learned since its last snapshot,
    with its canary and challengers (they learn every event production learns)."""
    written = 0
    heads = MLModel.objects.exclude(production_version=None).values_list(
        "name", "production_version_id", "canary_version_id", "challenger_ids", "learn_seq"
    )
    for name, version_id, canary_id, challenger_ids, learn_seq in heads:
        latest = selectors.snapshot_latest_seq(version_id=version_id)
        if learn_seq == 0 or (latest is not None and latest >= learn_seq):
            continue  # nothing learned since: the stored history already says it
        numbers = _numbers_beside(canary_id, challenger_ids)
        try:
            written += snapshot_model(name, [None, *numbers] if numbers else None)
        except RhythmicError as exc:  # deleted or without production meanwhile
            logger.info("no snapshot of %s: %s", name, exc.message)
    return written


def _numbers_beside(canary_id: int | None, challenger_ids: str | None) -> list[int]:
    """The version numbers of the canary and the challengers (the model row's denormalized columns)."""
    beside = [pk for pk in (canary_id, *json.loads(challenger_ids or "[]")) if pk is not None]
    return sorted(ModelVersion.objects.filter(pk__in=beside).values_list("number", flat=True)) if beside else []
