"""Reads of monitoring records: metric history, drift points, alert rules and alerts. None means missing."""

from datetime import datetime

from django.db.models import Count, OuterRef, QuerySet, Subquery

from catalogue.models import MLModel
from monitoring.models import Alert, AlertRule, DriftPoint, MetricSnapshot, WebhookDelivery


def snapshot_list(
    *, model: MLModel, since: datetime | None = None, version: int | None = None, limit: int | None = None
) -> list[MetricSnapshot]:
    """A model's snapshots, oldest first; with ``limit``, the newest ``limit`` of them."""
    snapshots = MetricSnapshot.objects.for_model(model).select_related("version").defer("version__artifact")
    if since is not None:
        snapshots = snapshots.filter(created_at__gte=since)
    if version is not None:
        snapshots = snapshots.filter(version__number=version)
    if limit is not None:
        newest = list(snapshots.order_by("-created_at", "-state_seq")[:limit])
        return newest[::-1]
    return list(snapshots.order_by("created_at", "state_seq"))


def snapshot_latest_seq(*, version_id: int) -> int | None:
    return (
        MetricSnapshot.objects.filter(version_id=version_id)
        .order_by("-state_seq")
        .values_list("state_seq", flat=True)
        .first()
    )


def snapshots_since(*, model_id: int, since: datetime) -> QuerySet[MetricSnapshot]:
    return MetricSnapshot.objects.filter(model_id=model_id, created_at__gte=since)


def snapshot_latest_per_production_version() -> list[MetricSnapshot]:
    """The newest snapshot of each model's production version."""
    newest = MetricSnapshot.objects.filter(version_id=OuterRef("production_version_id")).order_by("-state_seq")
    ids = (
        MLModel.objects.exclude(production_version=None)
        .annotate(snapshot_id=Subquery(newest.values("pk")[:1]))
        .values_list("snapshot_id", flat=True)
    )
    return list(
        MetricSnapshot.objects.filter(pk__in=[pk for pk in ids if pk is not None])
        .select_related("model", "version")
        .defer("version__artifact")
    )


def drift_list(*, model: MLModel, since: datetime | None = None, version: int | None = None) -> QuerySet[DriftPoint]:
    drifts = DriftPoint.objects.filter(model=model).select_related("version").defer("version__artifact")
    if since is not None:
        drifts = drifts.filter(detected_at__gte=since)
    if version is not None:
        drifts = drifts.filter(version__number=version)
    return drifts.order_by("seq")


def drift_count_since(*, model_id: int, since: datetime) -> int:
    return DriftPoint.objects.filter(model_id=model_id, detected_at__gte=since).count()


def drift_counts() -> list[tuple[str, int, int]]:
    """(model name, version number, number of drift points) for every version that drifted."""
    rows = (
        DriftPoint.objects.values("model__name", "version__number")
        .annotate(n=Count("id"))
        .order_by("model__name", "version__number")
    )
    return [(row["model__name"], row["version__number"], row["n"]) for row in rows]


def alert_rule_list(*, model: MLModel | None = None, enabled: bool | None = None) -> QuerySet[AlertRule]:
    rules = AlertRule.objects.select_related("model", "created_by")
    if model is not None:
        rules = rules.filter(model=model)
    if enabled is not None:
        rules = rules.filter(enabled=enabled)
    return rules.order_by("model__name", "name", "id")


def alert_rule_get(*, pk: int) -> AlertRule | None:
    return AlertRule.objects.select_related("model", "created_by").filter(pk=pk).first()


def alert_list(*, state: str | None = None, model: MLModel | None = None) -> QuerySet[Alert]:
    alerts = Alert.objects.select_related("rule", "rule__model", "acknowledged_by")
    if state is not None:
        alerts = alerts.filter(state=state)
    if model is not None:
        alerts = alerts.filter(rule__model=model)
    return alerts.order_by("-fired_at", "-id")


def alert_get(*, pk: int) -> Alert | None:
    return Alert.objects.select_related("rule", "rule__model", "acknowledged_by").filter(pk=pk).first()


def webhook_delivery_list(
    *, alert: int | None = None, status: str | None = None, model: MLModel | None = None
) -> QuerySet[WebhookDelivery]:
    """Webhook deliveries, newest first (of one alert; in one status; of one model's alerts)."""
    deliveries = WebhookDelivery.objects.select_related("alert", "alert__rule", "alert__rule__model")
    if alert is not None:
        deliveries = deliveries.filter(alert_id=alert)
    if status is not None:
        deliveries = deliveries.filter(status=status)
    if model is not None:
        deliveries = deliveries.filter(alert__rule__model=model)
    return deliveries.order_by("-created_at", "-id")


def alert_open_for(*, rule: AlertRule) -> Alert | None:
    return Alert.objects.open().filter(rule=rule).first()


def alert_open_counts() -> list[tuple[str, str, int]]:
    """(model name, state, count) of the open alerts."""
    rows = Alert.objects.open().values("rule__model__name", "state").annotate(n=Count("id")).order_by()
    return [(row["rule__model__name"], row["state"], row["n"]) for row in rows]
