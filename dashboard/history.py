"""Monitoring's records shaped for the pages: metric history for charts and sparklines, drift points, alerts."""

from datetime import datetime

from catalogue.errors import NotFound
from catalogue.flavors import scalar
from catalogue.models import MLModel
from monitoring import selectors as monitoring

#: {version number: [(time, value), ...]} oldest first
Series = dict[int, list[tuple[datetime, float]]]


def metrics_history(
    *, model: MLModel, metrics: list[str], versions: list[int] | None = None, limit: int = 200
) -> dict[str, Series]:
    """{metric: {version: points}} from the newest ``limit`` snapshots of each version (all versions when None)."""
    snapshots = []
    for number in versions or [None]:
        snapshots += monitoring.snapshot_list(model=model, version=number, limit=limit)
    result: dict[str, Series] = {}
    for snapshot in sorted(snapshots, key=lambda s: (s.created_at, s.state_seq)):
        for name in metrics:
            value = scalar((snapshot.metrics or {}).get(name))
            if value is not None:
                result.setdefault(name, {}).setdefault(snapshot.version.number, []).append(
                    (snapshot.created_at, float(value))
                )
    return result


def metric_history(*, model: MLModel, metric: str, versions: list[int] | None = None, limit: int = 200) -> Series:
    return metrics_history(model=model, metrics=[metric], versions=versions, limit=limit).get(metric, {})


def trend(*, model: MLModel, metric: str, limit: int = 40) -> list[float]:
    """The production version's recent values of ``metric``, oldest first, for a sparkline."""
    if model.production_version_id is None:
        return []
    number = model.production_version.number
    points = metric_history(model=model, metric=metric, versions=[number], limit=limit).get(number, [])
    return [value for _, value in points]


def drift_points(*, model: MLModel, limit: int = 50) -> list[dict]:
    """The newest ``limit`` drift points, newest first."""
    drifts = monitoring.drift_list(model=model).order_by("-seq")[:limit]
    return [{"version": d.version.number, "seq": d.seq, "n_drifts": d.n_drifts, "at": d.detected_at} for d in drifts]


def alerts(*, model: MLModel, limit: int = 50) -> list:
    """Open alerts (firing, acknowledged) first, then the newest resolved ones."""
    everything = monitoring.alert_list(model=model)
    open_ones = list(everything.filter(state__in=["firing", "acknowledged"]))
    closed = list(everything.exclude(state__in=["firing", "acknowledged"])[: max(0, limit - len(open_ones))])
    return open_ones + closed


def alert_get(*, model: MLModel, alert_id: int):
    alert = monitoring.alert_get(pk=alert_id)
    if alert is None or alert.rule.model_id != model.pk:
        raise NotFound(f"{model.name} has no alert {alert_id}")
    return alert


def labelled_history(*, model: MLModel, metrics: list[str], labels: dict[int, str], limit: int = 200) -> dict:
    """{metric: {label: [[state_seq, value, iso time], ...]}} of the versions in ``labels`` ({number: label}),
    oldest first: the model page's chart of production, canary and challengers, a point per snapshot."""
    result: dict[str, dict[str, list]] = {name: {} for name in metrics}
    for number, label in labels.items():
        for snapshot in monitoring.snapshot_list(model=model, version=number, limit=limit):
            for name in metrics:
                value = scalar((snapshot.metrics or {}).get(name))
                if value is not None:
                    point = [snapshot.state_seq, float(value), snapshot.created_at.isoformat()]
                    result[name].setdefault(label, []).append(point)
    for by_label in result.values():
        for points in by_label.values():
            points.sort(key=lambda p: p[0])  # x is the log entry
    return result
