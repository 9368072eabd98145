"""Writes of monitoring: metric snapshots, drift points, alert rules and alert state changes.

Every interface (REST, admin, tasks, monitoring's worker) calls these. An alert's state change is published
as a live event and stored as a webhook delivery (monitoring.webhooks POSTs it, with retries), both only once
the change has committed.
"""

import logging
import math
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalogue import selectors as catalogue_selectors
from catalogue.errors import Conflict, InvalidInput
from catalogue.flavors import get_flavor
from catalogue.models import MLModel
from monitoring import selectors, webhooks
from monitoring.live import publish
from monitoring.models import Alert, AlertRule, DriftPoint, MetricSnapshot

logger = logging.getLogger(__name__)

SIGNALS = ("latency_p99", "error_rate", "lag", "drift", "non_finite")
METRIC_PREFIX = "metric:"
MAX_WINDOW = 7 * 24 * 3600
RULE_FIELDS = ("name", "signal", "comparison", "threshold", "window_seconds", "webhook_url", "enabled")


# --- metric history ------------------------------------------------------------------------------


def snapshot_write(*, model_id: int, rows: list[dict]) -> int:
    """Store snapshots (version_id, state_seq, n_learned, metrics, stats); one already stored at the same
    (version, state_seq), by this or another process, is kept. Returns how many rows were offered."""
    MetricSnapshot.objects.bulk_create(
        [MetricSnapshot(model_id=model_id, **row) for row in rows],
        ignore_conflicts=True,
    )
    return len(rows)


def history_prune(*, days: int) -> int:
    """Remove snapshots older than ``days`` days; returns how many."""
    deleted, _ = MetricSnapshot.objects.filter(created_at__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted


def drift_point_record(*, model_id: int, version_id: int, seq: int, n_drifts: int) -> DriftPoint | None:
    """Record a drift once: every replica (and every replay) reports the same (version, seq).

    Returns the new point, or None when it was recorded before.
    """
    try:
        with transaction.atomic():  # a savepoint: a duplicate must not spoil the caller's transaction
            point, created = DriftPoint.objects.get_or_create(
                version_id=version_id, seq=seq, defaults={"model_id": model_id, "n_drifts": n_drifts}
            )
    except (
        IntegrityError
    ):  # the version was deleted meanwhile, or a concurrent insert won in a way get_or_create missed
        return None
    return point if created else None


# --- alert rules -----------------------------------------------------------------------------------


def _clean_model(model: Any) -> MLModel:
    if isinstance(model, MLModel):
        return model
    if not isinstance(model, str) or not model:
        raise InvalidInput("model must be the name of a model in the catalogue", field="model")
    found = catalogue_selectors.model_get(name=model)
    if found is None:
        raise InvalidInput(f"no model named {model!r}", field="model")
    return found


def _clean_rule_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        raise InvalidInput("name must be a text of 1 to 100 characters, like 'MAE too high'", field="name")
    return name.strip()


def _clean_signal(model: MLModel, signal: Any) -> str:
    names = get_flavor(model.flavor).metrics
    choices = f"{', '.join(SIGNALS)} or metric:<name> with a name among {', '.join(names)}"
    if not isinstance(signal, str):
        raise InvalidInput(f"signal must be one of {choices}", field="signal")
    if signal.startswith(METRIC_PREFIX):
        metric = signal[len(METRIC_PREFIX) :]
        if metric not in names:
            raise InvalidInput(
                f"{model.name} is a {model.flavor} model; its metrics are {', '.join(names)}, not {metric!r}",
                field="signal",
            )
        return signal
    if signal not in SIGNALS:
        raise InvalidInput(f"signal must be one of {choices}; got {signal!r}", field="signal")
    return signal


def _clean_comparison(comparison: Any) -> str:
    if comparison not in AlertRule.Comparison.values:
        raise InvalidInput(
            f"comparison must be one of {', '.join(AlertRule.Comparison.values)}; got {comparison!r}",
            field="comparison",
        )
    return comparison


def _clean_threshold(threshold: Any) -> float:
    try:
        if isinstance(threshold, bool) or threshold is None:
            raise ValueError
        value = float(threshold)
    except (TypeError, ValueError):
        raise InvalidInput(f"threshold must be a number, like 0.5; got {threshold!r}", field="threshold") from None
    if not math.isfinite(value):
        raise InvalidInput("threshold must be a finite number", field="threshold")
    return value


def _clean_window(window: Any) -> int:
    try:
        if isinstance(window, bool) or (isinstance(window, float) and not window.is_integer()):
            raise ValueError
        value = int(window)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= MAX_WINDOW:
        raise InvalidInput(
            f"window_seconds must be a whole number of seconds from 1 to {MAX_WINDOW}; got {window!r}",
            field="window_seconds",
        )
    return value


def _clean_webhook(url: Any) -> str:
    if url is None or url == "":
        return ""
    try:
        if not isinstance(url, str) or len(url) > 500:
            raise ValidationError("bad")
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise InvalidInput(
            f"webhook_url must be an http(s) URL of at most 500 characters, like https://hooks.example.com/x; "
            f"got {url!r}",
            field="webhook_url",
        ) from None
    return url


def _clean_enabled(enabled: Any) -> bool:
    if not isinstance(enabled, bool):
        raise InvalidInput(f"enabled must be true or false; got {enabled!r}", field="enabled")
    return enabled


@transaction.atomic
def alert_rule_create(
    *,
    model: MLModel | str,
    name: str,
    signal: str,
    comparison: str,
    threshold: float,
    window_seconds: int = 300,
    webhook_url: str | None = "",
    enabled: bool = True,
    created_by=None,
) -> AlertRule:
    mlmodel = _clean_model(model)
    return AlertRule.objects.create(
        model=mlmodel,
        name=_clean_rule_name(name),
        signal=_clean_signal(mlmodel, signal),
        comparison=_clean_comparison(comparison),
        threshold=_clean_threshold(threshold),
        window_seconds=_clean_window(window_seconds),
        webhook_url=_clean_webhook(webhook_url),
        enabled=_clean_enabled(enabled),
        created_by=created_by,
    )


@transaction.atomic
def alert_rule_update(*, rule: AlertRule, **fields: Any) -> AlertRule:
    """Change some of a rule's fields; disabling it resolves its open alert."""
    unknown = sorted(set(fields) - set(RULE_FIELDS))
    if unknown:
        raise InvalidInput(
            f"cannot change {', '.join(unknown)}; a rule's changeable fields are {', '.join(RULE_FIELDS)}",
            field=unknown[0],
        )
    cleaners = {
        "name": _clean_rule_name,
        "signal": lambda value: _clean_signal(rule.model, value),
        "comparison": _clean_comparison,
        "threshold": _clean_threshold,
        "window_seconds": _clean_window,
        "webhook_url": _clean_webhook,
        "enabled": _clean_enabled,
    }
    for field, value in fields.items():
        setattr(rule, field, cleaners[field](value))
    rule.save()
    if not rule.enabled:
        open_alert = selectors.alert_open_for(rule=rule)
        if open_alert is not None:
            _resolve(open_alert, value=open_alert.value, message=f"{rule.model.name}: rule {rule.name!r} disabled")
    return rule


@transaction.atomic
def alert_rule_delete(*, rule: AlertRule) -> None:
    rule.delete()


# --- alerts --------------------------------------------------------------------------------------


def breached(value: float, comparison: str, threshold: float) -> bool:
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
    }[comparison]


@transaction.atomic
def alert_apply(*, rule: AlertRule, value: float | None) -> Alert | None:
    """Apply one evaluation of ``rule``: fire (one open alert per rule), refresh its value, or resolve.

    ``value`` None means the signal is unknown here (no data): nothing changes. Returns the alert whose state
    changed, if any.
    """
    locked = AlertRule.objects.select_for_update().filter(pk=rule.pk, enabled=True).first()
    if locked is None or value is None:  # deleted or disabled meanwhile
        return None
    rule = locked
    model_name = rule.model.name
    open_alert = selectors.alert_open_for(rule=rule)
    if breached(value, rule.comparison, rule.threshold):
        if open_alert is not None:
            Alert.objects.filter(pk=open_alert.pk).update(value=value)
            return None
        message = (
            f"{model_name}: {rule.name}: {rule.signal} is {value:.6g} "
            f"({rule.comparison} {rule.threshold:g} over {rule.window_seconds} s)"
        )
        try:
            with transaction.atomic():
                alert = Alert.objects.create(rule=rule, value=value, message=message[:500])
        except IntegrityError:  # another process fired it first
            return None
        _notify(alert)
        return alert
    if open_alert is not None:
        message = f"{model_name}: {rule.name}: {rule.signal} is back to {value:.6g}"
        return _resolve(open_alert, value=value, message=message)
    return None


def _resolve(alert: Alert, *, value: float | None, message: str) -> Alert:
    alert.state = Alert.State.RESOLVED
    alert.value = value
    alert.message = message[:500]
    alert.resolved_at = timezone.now()
    alert.save(update_fields=["state", "value", "message", "resolved_at"])
    _notify(alert)
    return alert


POLICY_SIGNAL = "policy"
POLICY_RULE = "Automatic deployment"


@transaction.atomic
def alert_raise_policy(*, model: MLModel, message: str) -> Alert | None:
    """Fire an alert for an automatic action of the model's promotion policy.

    Its rule (signal "policy", created on first use) is never evaluated: each action fires a new alert and
    resolves the previous one. Disable the rule to silence them, give it a webhook_url to be called."""
    rule, _ = AlertRule.objects.get_or_create(
        model=model,
        signal=POLICY_SIGNAL,
        defaults={"name": POLICY_RULE, "comparison": AlertRule.Comparison.GE, "threshold": 1.0, "window_seconds": 1},
    )
    rule = AlertRule.objects.select_for_update().get(pk=rule.pk)
    if not rule.enabled:
        return None
    open_alert = selectors.alert_open_for(rule=rule)
    if open_alert is not None:
        _resolve(open_alert, value=open_alert.value, message=f"{model.name}: superseded by a newer automatic action")
    alert = Alert.objects.create(rule=rule, value=1.0, message=message[:500])
    _notify(alert)
    return alert


@transaction.atomic
def alert_acknowledge(*, alert: Alert, user=None) -> Alert:
    """Acknowledge a firing alert: it stays open, and is not notified again, until its condition clears."""
    alert = Alert.objects.select_for_update().select_related("rule", "rule__model").get(pk=alert.pk)
    if alert.state == Alert.State.RESOLVED:
        raise Conflict(f"alert {alert.pk} is resolved; only a firing alert can be acknowledged", code="resolved")
    if alert.state == Alert.State.ACKNOWLEDGED:
        return alert
    alert.state = Alert.State.ACKNOWLEDGED
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = user
    alert.save(update_fields=["state", "acknowledged_at", "acknowledged_by"])
    _notify(alert)
    return alert


def alert_event(alert: Alert) -> dict:
    """An alert as a live event and as the webhook's JSON body."""
    rule = alert.rule

    def iso(value):
        return value.isoformat() if value else None

    return {
        "type": "alert",
        "alert_id": alert.pk,
        "rule_id": rule.pk,
        "rule": rule.name,
        "model": rule.model.name,
        "signal": rule.signal,
        "comparison": rule.comparison,
        "threshold": rule.threshold,
        "window_seconds": rule.window_seconds,
        "state": alert.state,
        "value": alert.value,
        "message": alert.message,
        "fired_at": iso(alert.fired_at),
        "resolved_at": iso(alert.resolved_at),
        "acknowledged_at": iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by.get_username() if alert.acknowledged_by else None,
    }


def _notify(alert: Alert) -> None:
    """Publish the change and store a webhook delivery; both leave only once the change has committed."""
    event = alert_event(alert)
    model = event["model"]
    logger.info("alert %s: %s", alert.state, alert.message)
    transaction.on_commit(lambda: publish(dict(event), model=model, sample=False))
    if alert.rule.webhook_url:
        delivery = webhooks.delivery_create(alert=alert, url=alert.rule.webhook_url, event=event)
        transaction.on_commit(lambda: webhooks.queue_delivery(delivery.pk))
