"""Monitoring's records for the pages: metric history (MetricSnapshot), drift points, alerts.

Read through django.apps so the pages still render (with current figures only) where the monitoring app
has no such model or no rows yet; a schema this module does not expect is logged and shown as no history.
"""

import logging
from datetime import datetime

from django.apps import apps

from catalogue.errors import NotFound
from catalogue.models import MLModel

logger = logging.getLogger(__name__)

#: {version number: [(time, value), ...]} oldest first
Series = dict[int, list[tuple[datetime, float]]]


def _model(name: str):
    try:
        return apps.get_model("monitoring", name)
    except LookupError:
        return None


def available() -> bool:
    return _model("MetricSnapshot") is not None


def metric_history(*, model: MLModel, metric: str, versions: list[int] | None = None, limit: int = 200) -> Series:
    """The last ``limit`` snapshots of ``metric`` per version (all versions when None), oldest first."""
    return metrics_history(model=model, metrics=[metric], versions=versions, limit=limit).get(metric, {})


def metrics_history(
    *, model: MLModel, metrics: list[str], versions: list[int] | None = None, limit: int = 200
) -> dict[str, Series]:
    """{metric: Series} for several metrics from one query."""
    Snapshot = _model("MetricSnapshot")
    if Snapshot is None:
        return {}
    try:
        rows = Snapshot.objects.filter(model=model)
        if versions:
            rows = rows.filter(version__number__in=versions)
        rows = rows.values_list("version__number", "created_at", "metrics").order_by("-created_at", "-state_seq")
        result: dict[str, Series] = {}
        for number, created_at, values in reversed(list(rows[: limit * max(1, len(versions or [1, 2]))])):
            for name in metrics:
                value = (values or {}).get(name)
                if value is not None:
                    result.setdefault(name, {}).setdefault(number, []).append((created_at, float(value)))
        return {name: {number: points[-limit:] for number, points in series.items()} for name, series in result.items()}
    except Exception:  # a schema this adapter does not expect: no history rather than a broken page
        logger.warning("could not read metric history from monitoring.MetricSnapshot", exc_info=True)
        return {}


def trend(*, model: MLModel, metric: str, limit: int = 40) -> list[float]:
    """The production version's recent values of ``metric``, for a sparkline."""
    if model.production_version_id is None:
        return []
    number = model.production_version.number
    points = metric_history(model=model, metric=metric, versions=[number], limit=limit).get(number, [])
    return [value for _, value in points]


def drift_points(*, model: MLModel, limit: int = 50) -> list[dict]:
    DriftPoint = _model("DriftPoint")
    if DriftPoint is None:
        return []
    try:
        rows = DriftPoint.objects.filter(model=model).order_by("-seq")[:limit]
        return [
            {"version": version, "seq": seq, "n_drifts": n, "at": at}
            for version, seq, n, at in rows.values_list("version__number", "seq", "n_drifts", "detected_at")
        ]
    except Exception:
        logger.warning("could not read drift points from monitoring.DriftPoint", exc_info=True)
        return []


def alerts(*, model: MLModel, limit: int = 50) -> list:
    """Open alerts first, then the latest resolved ones."""
    Alert = _model("Alert")
    if Alert is None:
        return []
    try:
        rows = Alert.objects.filter(rule__model=model).select_related("rule", "acknowledged_by")
        open_ones = list(rows.filter(state__in=["firing", "acknowledged"]))
        closed = list(rows.exclude(state__in=["firing", "acknowledged"])[: max(0, limit - len(open_ones))])
        return open_ones + closed
    except Exception:
        logger.warning("could not read alerts from monitoring.Alert", exc_info=True)
        return []


def alert_get(*, model: MLModel, alert_id: int):
    Alert = _model("Alert")
    alert = Alert.objects.filter(rule__model=model, pk=alert_id).first() if Alert is not None else None
    if alert is None:
        raise NotFound(f"{model.name} has no alert {alert_id}")
    return alert


def acknowledge_service():
    """monitoring.services.alert_acknowledge, or None while the monitoring app has no such service."""
    try:
        from monitoring import services
    except ImportError:
        return None
    return getattr(services, "alert_acknowledge", None)
