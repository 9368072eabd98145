"""Reads the pages need beyond catalogue.selectors: recent activity, headline metrics, route statistics.

Each returns plain values for a template and never raises for a model that cannot serve (no production
version, an artifact that no longer loads): the page shows "—" and says why.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Count
from django.utils import timezone

import serving
from catalogue.errors import RhythmicError
from catalogue.flavors import get_flavor, scalar
from catalogue.models import Deployment, MLModel, ModelVersion
from serving.models import LearnEvent

logger = logging.getLogger(__name__)

#: core calls that answer predictions, as serving.route_stats names them
PREDICT_ROUTES = ("predict", "predict_many")


def learns_since(*, since) -> dict[int, int]:
    """{model id: learn-log entries appended since ``since``}."""
    rows = LearnEvent.objects.filter(created_at__gte=since).values("model_id").annotate(n=Count("id"))
    return {row["model_id"]: row["n"] for row in rows}


def learns_last_hour() -> dict[int, int]:
    return learns_since(since=timezone.now() - timedelta(hours=1))


def predict_calls(*, model: str) -> int:
    """Predict requests this server process answered since it started (the core keeps no durable count)."""
    stats = serving.route_stats(model=model)
    return sum(stats[route]["n_calls"] for route in PREDICT_ROUTES if route in stats)


@dataclass
class LiveMetrics:
    """A version's online metrics as the serving core reports them, or why there are none."""

    version: int | None = None
    values: dict[str, float | None] = field(default_factory=dict)
    n_learned: int = 0
    n_scored: int = 0
    state_seq: int = 0
    unavailable: str = ""


def live_metrics(*, model: str, version: int | None = None) -> LiveMetrics:
    """The production version's metrics (or ``version``'s); ``unavailable`` says why when it cannot serve."""
    try:
        found = serving.metrics(model=model, version=version)
    except RhythmicError as exc:
        return LiveMetrics(version=version, unavailable=exc.message)
    except Exception as exc:  # an artifact is user code: loading it may fail in any way
        logger.warning("metrics of %s v%s failed", model, version, exc_info=True)
        return LiveMetrics(version=version, unavailable=f"the version could not be loaded: {type(exc).__name__}")
    # A metric folded from nothing reads 0 (a perfect MAE): show no value until something was scored.
    values = found["metrics"] if found["n_scored"] else dict.fromkeys(found["metrics"])
    return LiveMetrics(
        version=found["version"],
        values=values,
        n_learned=found["n_learned"],
        n_scored=found["n_scored"],
        state_seq=found["state_seq"],
    )


def headline(*, model: MLModel) -> tuple[str, float | None, str]:
    """(metric name, production value or None, why there is none)."""
    name = get_flavor(model.flavor).headline_metric
    if model.production_version_id is None:
        return name, None, "no production version"
    live = live_metrics(model=model.name)
    if live.unavailable:
        return name, None, live.unavailable
    return name, live.values.get(name), "" if live.n_scored else "no labelled predictions yet"


def route_stats(*, model: str) -> dict[str, dict]:
    return serving.route_stats(model=model)


def model_footprint(*, model: MLModel) -> dict[str, int]:
    """What deleting the model deletes, counted for the confirmation page."""
    return {
        "versions": ModelVersion.objects.filter(model=model).count(),
        "learns": LearnEvent.objects.filter(model=model).count(),
        "deployments": Deployment.objects.filter(model=model).count(),
    }


def version_numbers(*, model: MLModel) -> list[int]:
    return list(ModelVersion.objects.filter(model=model).order_by("-number").values_list("number", flat=True))


def jsonable_metrics(values: dict[str, Any]) -> dict[str, float | None]:
    values = {name: scalar(value) for name, value in values.items()}  # a forecaster's steps: their mean
    return {name: (float(value) if value is not None else None) for name, value in values.items()}


def training_rows(versions: list[ModelVersion]) -> dict[str, Any]:
    """What the Compare page shows of each version's lineage: parent, dataset, params, and the training job's
    metrics (by name, one value per version; None where a version has none). Empty when none was trained."""
    import json

    trained = [version.training_metrics or {} for version in versions]
    if not any(trained) and not any(version.dataset_id for version in versions):
        return {}
    names: list[str] = []
    for metrics in trained:
        names += [name for name in (metrics.get("values") or {}) if name not in names]
    rows = [(name, [(metrics.get("values") or {}).get(name) for metrics in trained]) for name in names]
    if any("score" in metrics for metrics in trained):
        rows.append(("holdout score", [metrics.get("score") for metrics in trained]))
    return {
        "params": [json.dumps(version.params, sort_keys=True) if version.params else "" for version in versions],
        "start": [metrics.get("start", "") for metrics in trained],
        "rows": rows,
    }
