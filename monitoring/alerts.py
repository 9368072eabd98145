"""Alert evaluation: compute each enabled rule's signal and fire, refresh or resolve its alert.

Runs on this process's monitoring worker after a learn (at most every RHYTHMIC_ALERT_EVAL_SECONDS per model
per process; the learn observer only enqueues), after a drift or a non-finite state is recorded, and from the
periodic task. Signals: ``metric:<name>`` (the production version's online metric, the same in every process),
``latency_p99`` (seconds) and ``error_rate`` (0-1) over the window (this process's calls, else the snapshots),
``lag`` (learn-log entries this process has not applied), ``drift`` (drift points within the window) and
``non_finite`` (1 once the production version has predicted NaN or infinity, else 0). A signal with no data
here changes nothing.
"""

import logging
from collections.abc import Collection
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

import serving
from catalogue.errors import RhythmicError
from catalogue.flavors import scalar
from catalogue.models import MLModel, ModelVersion
from monitoring import selectors, services, worker
from monitoring.models import Alert, AlertRule
from serving.process import ServingProcess, current
from serving.timings import percentile

logger = logging.getLogger(__name__)


def on_learn(*, model, **_) -> None:
    """Observer: queue an evaluation of the model's rules, at most every RHYTHMIC_ALERT_EVAL_SECONDS."""
    process = current()
    if worker.monitor(process).due("alerts", model, every=settings.RHYTHMIC_ALERT_EVAL_SECONDS):
        # On this process's worker even with a broker: latency_p99, error_rate and lag are this process's.
        worker.monitor(process).submit(evaluate_rules, model=model, process=process)


def signal_value(rule: AlertRule, process: ServingProcess | None = None) -> float | None:
    """The rule's signal now, or None when this process cannot know it."""
    process = process or current()
    name = rule.model.name
    signal = rule.signal
    if signal.startswith(services.METRIC_PREFIX):
        try:
            return scalar(serving.metrics(model=name)["metrics"].get(signal[len(services.METRIC_PREFIX) :]))
        except RhythmicError:  # no production version
            return None
    if signal == "drift":
        since = timezone.now() - timedelta(seconds=rule.window_seconds)
        return float(selectors.drift_count_since(model_id=rule.model_id, since=since))
    if signal == "non_finite":
        version_id = rule.model.production_version_id
        if version_id is None:
            return None
        return float(ModelVersion.objects.filter(pk=version_id, non_finite_seq__isnull=False).exists())
    if signal == "lag":
        learn_seq = MLModel.objects.filter(pk=rule.model_id).values_list("learn_seq", flat=True).first()
        lag = None if learn_seq is None else process.lag(model=name, head=learn_seq)
        return None if lag is None else float(lag)
    calls = process.recent_calls(model=name, seconds=rule.window_seconds)
    if signal == "error_rate":
        return sum(1 for call in calls if call.error) / len(calls) if calls else None
    if signal == "latency_p99":
        answered = [call.duration_ns for call in calls if not call.error]  # refusals are errors, not latency
        if answered:
            return percentile(answered, 0.99) / 1e9
        return _snapshot_p99(rule)
    return None


def _snapshot_p99(rule: AlertRule) -> float | None:
    """The worst p99 that processes reported in their snapshots within the window (seconds)."""
    since = timezone.now() - timedelta(seconds=rule.window_seconds)
    worst = None
    for stats in selectors.snapshots_since(model_id=rule.model_id, since=since).values_list("stats", flat=True):
        for route in (stats or {}).values():
            p99 = route.get("p99") if isinstance(route, dict) else None
            if isinstance(p99, int | float) and route.get("count") and (worst is None or p99 > worst):
                worst = p99
    return None if worst is None else worst / 1e9


def evaluate_rules(
    *, model: str | None = None, signals: Collection[str] | None = None, process: ServingProcess | None = None
) -> list[Alert]:
    """Evaluate the enabled rules (of ``model``; of ``signals`` only) with the signals ``process`` (default:
    this one) sees; returns the alerts whose state changed."""
    rules = AlertRule.objects.filter(enabled=True).select_related("model")
    if model is not None:
        rules = rules.filter(model__name=model)
    changed = []
    for rule in rules:
        kind = "metric" if rule.signal.startswith(services.METRIC_PREFIX) else rule.signal
        if signals is not None and kind not in signals:
            continue
        try:
            value = signal_value(rule, process)
            alert = services.alert_apply(rule=rule, value=value)
        except Exception:  # one broken rule must not stop the others, nor serving
            logger.exception("evaluating alert rule %s failed", rule.pk)
            continue
        if alert is not None:
            changed.append(alert)
    return changed
