"""Promotion policies: promote a challenger that beats production, roll back a production that degrades.

Evaluated off the serving call: a learn observer counts a model's learns (on this process's monitoring state)
and, once per RHYTHMIC_POLICY_EVAL_LEARNS of them, queues an evaluation for monitoring's worker thread, which
runs it there in the embedded default and sends the Celery task ``monitoring.evaluate_policy`` where a broker
exists (a count per process: simple, and several processes only evaluate more often); beat evaluates every
policy too. Windows are read from the learn
log (each version's stream of its own predictions), so every process and worker decides on the same evidence.
The statistics live in ``decide_promote`` and ``decide_rollback``, which take per-event loss arrays.
"""

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from catalogue import services as catalogue_services
from catalogue.errors import InvalidInput
from catalogue.flavors import get_flavor
from catalogue.models import Challenger, MLModel, ModelVersion
from catalogue.signals import deployment_changed
from monitoring import services, worker
from monitoring.live import publish
from monitoring.models import DriftPoint, Policy
from serving import log
from serving.codec import decode_prediction
from serving.online_metrics import LOSS_FLAVORS, MAE_FLAVORS, NO_LOSS, event_loss

logger = logging.getLogger(__name__)

MIN_WINDOW, MAX_WINDOW = 10, 100_000
PARTS = {
    "auto_promote": {"window": None, "min_improvement": None, "confidence": 0.95},
    "auto_rollback": {"window": None, "max_degradation": None},
}  # each part's keys, with their defaults (None: required)
LOSS_NAMES = {
    "regression": "absolute error",
    "recommendation": "absolute error (of the rating)",
    "binary": "0/1 error",
    "multiclass": "0/1 error",
}


# --- the policy itself ---------------------------------------------------------------------------------


def _clean_window(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_WINDOW <= value <= MAX_WINDOW:
        raise InvalidInput(
            f"{field} must be a whole number of learn-log events from {MIN_WINDOW} to {MAX_WINDOW}; got {value!r}",
            field=field,
        )
    return value


def _clean_ratio(value: Any, field: str, *, low: float = 0.0, high: float = math.inf, below: bool = False) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = low <= value < high if below else low <= value <= high
    if not ok:
        if below:
            bounds = f"from {low:g} up to (not including) {high:g}"
        else:
            bounds = f"of at least {low:g}" if high == math.inf else f"from {low:g} to {high:g}"
        raise InvalidInput(f"{field} must be a number {bounds}; got {value!r}", field=field)
    return float(value)


def _clean_part(name: str, value: Any) -> dict | None:
    if value is None:
        return None
    keys = PARTS[name]
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} must be a JSON object with {', '.join(keys)}", field=name)
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise InvalidInput(
            f"{name}: unknown key {unknown[0]!r}; it takes {', '.join(keys)}", field=f"{name}.{unknown[0]}"
        )
    missing = [key for key, default in keys.items() if default is None and key not in value]
    if missing:
        raise InvalidInput(f"{name}: {', '.join(missing)} required", field=f"{name}.{missing[0]}")
    part = {**{k: d for k, d in keys.items() if d is not None}, **value}
    cleaned = {"window": _clean_window(part["window"], f"{name}.window")}
    if name == "auto_promote":
        cleaned["min_improvement"] = _clean_ratio(part["min_improvement"], f"{name}.min_improvement")
        cleaned["confidence"] = _clean_ratio(part["confidence"], f"{name}.confidence", low=0.5, high=1.0, below=True)
    else:
        cleaned["max_degradation"] = _clean_ratio(part["max_degradation"], f"{name}.max_degradation")
    return cleaned


def clean_policy(body: Any) -> dict:
    """``{"auto_promote": {...}?, "auto_rollback": {...}?}`` checked and with defaults filled in."""
    if not isinstance(body, dict):
        raise InvalidInput("the policy must be a JSON object with auto_promote, auto_rollback or both")
    unknown = sorted(set(body) - set(PARTS))
    if unknown:
        raise InvalidInput(f"unknown key {unknown[0]!r}; a policy has {', '.join(PARTS)}", field=unknown[0])
    cleaned = {name: _clean_part(name, body.get(name)) for name in PARTS}
    if all(part is None for part in cleaned.values()):
        raise InvalidInput("give auto_promote, auto_rollback or both (DELETE removes the policy)")
    return cleaned


def policy_refusal(*, flavor: str) -> str | None:
    """Why a model of ``flavor`` cannot have a policy, or None when it can."""
    if flavor in LOSS_FLAVORS:
        return None
    why = NO_LOSS.get(flavor, "its headline metric has no per-event loss")
    return (
        f"{why}; a promotion policy compares per-event losses, so it cannot have one (flavors that may: "
        f"{', '.join(LOSS_FLAVORS)}); compare its challengers by their metrics instead."
    )


def policy_get(*, model: MLModel) -> Policy | None:
    return Policy.objects.filter(model=model).first()


@transaction.atomic
def policy_set(*, model: MLModel, body: Any, user=None) -> Policy:
    """Create or replace the model's policy; it evaluates events learned from now on."""
    refusal = policy_refusal(flavor=model.flavor)
    if refusal is not None:
        raise InvalidInput(f"{model.name} is a {model.flavor} model: {refusal}", code="wrong_flavor")
    cleaned = clean_policy(body)
    head = MLModel.objects.values_list("learn_seq", flat=True).get(pk=model.pk)
    policy, _ = Policy.objects.update_or_create(
        model=model,
        defaults={**cleaned, "since_seq": head, "updated_by": user, "decided_at": None, "decision": "", "details": {}},
    )
    return policy


@transaction.atomic
def policy_delete(*, model: MLModel) -> bool:
    deleted, _ = Policy.objects.filter(model=model).delete()
    return bool(deleted)


@receiver(deployment_changed)
def on_deployment(sender, deployment, **kwargs) -> None:
    """Production changed: the windows start afresh, on the new production's events only."""
    head = MLModel.objects.filter(pk=deployment.model_id).values_list("learn_seq", flat=True).first()
    if head is not None:
        Policy.objects.filter(model_id=deployment.model_id, since_seq__lt=head).update(since_seq=head)


# --- the statistics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    act: bool
    details: dict


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON (and Postgres' jsonb) have no infinity


def paired_t_test(production: Sequence[float], challenger: Sequence[float]) -> tuple[float, float]:
    """One-sided paired t-test that the challenger's losses are lower: (t, p). Constant differences have no
    variance: t is ±inf (p 0 or 1) when they are not all zero, 0 (p 1) when they are."""
    from scipy import stats

    differences = [p - c for p, c in zip(production, challenger, strict=True)]
    mean = _mean(differences)
    if all(d == differences[0] for d in differences):
        if mean > 0:
            return math.inf, 0.0
        return (-math.inf if mean < 0 else 0.0), 1.0
    result = stats.ttest_rel(production, challenger, alternative="greater")
    return float(result.statistic), float(result.pvalue)


def decide_promote(
    production: Sequence[float], challenger: Sequence[float], *, min_improvement: float, confidence: float
) -> Decision:
    """Promote when the challenger's mean loss is lower than production's by at least ``min_improvement``
    (relative) and a one-sided paired t-test on the per-event losses is significant at ``confidence``."""
    if len(production) != len(challenger) or len(production) < 2:
        raise ValueError("decide_promote needs two paired loss arrays of at least two events")
    production_loss, challenger_loss = _mean(production), _mean(challenger)
    # A perfect production cannot be beaten.
    improvement = (production_loss - challenger_loss) / production_loss if production_loss > 0 else 0.0
    t, p = paired_t_test(production, challenger)
    significant = p <= 1 - confidence
    act = challenger_loss < production_loss and improvement >= min_improvement and significant
    return Decision(
        act,
        {
            "window": len(production),
            "production_loss": production_loss,
            "challenger_loss": challenger_loss,
            "improvement": improvement,
            "min_improvement": min_improvement,
            "test": "paired t-test (one-sided)",
            "t": _finite_or_none(t),
            "p": p,
            "confidence": confidence,
            "significant": significant,
        },
    )


def decide_rollback(recent: Sequence[float], previous: Sequence[float], *, max_degradation: float) -> Decision:
    """Roll back when the mean loss of the recent window is worse than the previous window's by more than
    ``max_degradation`` (relative; a rise from a perfect previous window counts as infinitely worse)."""
    if not recent or not previous:
        raise ValueError("decide_rollback needs two non-empty loss arrays")
    recent_loss, previous_loss = _mean(recent), _mean(previous)
    if previous_loss > 0:
        degradation = (recent_loss - previous_loss) / previous_loss
    else:
        degradation = math.inf if recent_loss > 0 else 0.0
    return Decision(
        degradation > max_degradation,
        {
            "window": len(recent),
            "recent_loss": recent_loss,
            "previous_loss": previous_loss,
            "degradation": _finite_or_none(degradation),
            "max_degradation": max_degradation,
        },
    )


# --- evidence from the learn log -----------------------------------------------------------------------


def _challengers(model: MLModel) -> list[ModelVersion]:
    """The model's ready challengers, by version number."""
    rows = Challenger.objects.filter(model=model).select_related("version").order_by("version__number")
    return [row.version for row in rows if row.version.status == ModelVersion.Status.READY]


def _losses(model: MLModel, version_ids: list[int], *, n: int, floor: int, head: int) -> dict[Any, list]:
    """The per-event losses of each version on the last ``n`` entries in (floor, head] that all of them scored
    (with a loss), oldest first; fewer when the log since ``floor`` has fewer. Reads backwards in growing spans.
    Entries a rewind put aside for a version are not its evidence (nor in its metrics): they are left out."""
    flavor = get_flavor(model.flavor)
    skips = {version_id: log.skips(version_id) for version_id in version_ids}
    span = 2 * n
    while True:
        after = max(floor, head - span)
        scored = []
        for version_id in version_ids:
            losses = {}
            stream = log.version_stream(model_id=model.pk, version_id=version_id, after=after, upto=head)
            for event in log.without_skipped(stream, skips[version_id]):
                loss = event_loss(flavor, event.ground_truth, decode_prediction(event.prediction))
                if loss is not None:
                    losses[event.seq] = loss
            scored.append(losses)
        common = sorted(set.intersection(*(set(losses) for losses in scored)))
        if len(common) >= n or after == floor:
            seqs = common[-n:]
            return {"seqs": seqs, **{v: [s[seq] for seq in seqs] for v, s in zip(version_ids, scored, strict=True)}}
        span *= 4


def _metric(model: MLModel, loss: float) -> float:
    """A mean loss as the headline metric's value: MAE itself, or Accuracy = 1 - mean 0/1 error."""
    return loss if model.flavor in MAE_FLAVORS else 1.0 - loss


def _check_rollback(model: MLModel, policy: Policy, production: ModelVersion, head: int) -> dict | None:
    """The reason to roll back production, or None (``details`` of a hold are added to ``notes``)."""
    window = policy.auto_rollback["window"]
    target = catalogue_services.rollback_target(model=model)
    evidence = _losses(model, [production.pk], n=2 * window, floor=policy.since_seq, head=head)
    losses, seqs = evidence[production.pk], evidence["seqs"]
    metric = get_flavor(model.flavor).headline_metric
    if len(losses) == 2 * window:
        limit = policy.auto_rollback["max_degradation"]
        decision = decide_rollback(losses[window:], losses[:window], max_degradation=limit)
        if decision.act and target is not None:
            details = decision.details
            return {
                "rule": "degradation",
                "metric": metric,
                "recent": _metric(model, details["recent_loss"]),
                "previous": _metric(model, details["previous_loss"]),
                "from_seq": seqs[0],
                "to_seq": seqs[-1],
                **details,
                "summary": (
                    f"v{production.number}'s {metric} over its last {window} events is "
                    f"{_metric(model, details['recent_loss']):.6g}, against "
                    f"{_metric(model, details['previous_loss']):.6g} over the {window} before: "
                    f"{_percent(details['degradation'])} worse (limit {limit:.0%})"
                ),
            }
    recent = losses[-window:]
    if target is None or len(recent) < MIN_WINDOW:
        return None
    start = seqs[-len(recent)]
    skipped = log.skips(production.pk)  # a drift on entries a rewind put aside is no evidence either
    drifts = DriftPoint.objects.filter(version_id=production.pk, seq__gte=start, seq__gt=policy.since_seq)
    drift = next((d for d in drifts.order_by("-seq") if not log.is_skipped(d.seq, skipped)), None)
    if drift is None:
        return None
    earlier = _losses(model, [target.pk], n=window, floor=0, head=head)[target.pk]
    if len(earlier) < MIN_WINDOW:
        return None
    recent_loss, earlier_loss = _mean(recent), _mean(earlier)
    if earlier_loss >= recent_loss:
        return None
    return {
        "rule": "drift",
        "metric": metric,
        "window": len(recent),
        "drift_seq": drift.seq,
        "recent_loss": recent_loss,
        "previous_version": target.number,
        "previous_version_loss": earlier_loss,
        "recent": _metric(model, recent_loss),
        "previous_version_metric": _metric(model, earlier_loss),
        "summary": (
            f"v{production.number}'s drift detector fired at #{drift.seq}; its {metric} over its last {len(recent)} "
            f"events is {_metric(model, recent_loss):.6g}, v{target.number} scored {_metric(model, earlier_loss):.6g}"
        ),
    }


def _check_promote(model: MLModel, policy: Policy, production: ModelVersion, head: int, notes: dict) -> tuple | None:
    """(challenger, reason) for the best challenger that passes, or None."""
    rule = policy.auto_promote
    metric = get_flavor(model.flavor).headline_metric
    best = None
    for challenger in _challengers(model):
        if challenger.pk == production.pk:
            continue
        evidence = _losses(model, [production.pk, challenger.pk], n=rule["window"], floor=policy.since_seq, head=head)
        ours, theirs = evidence[production.pk], evidence[challenger.pk]
        if len(ours) < rule["window"]:
            notes[f"v{challenger.number}"] = f"{len(ours)} of {rule['window']} events scored by both so far"
            continue
        decision = decide_promote(ours, theirs, min_improvement=rule["min_improvement"], confidence=rule["confidence"])
        details = decision.details
        notes[f"v{challenger.number}"] = {k: details[k] for k in ("improvement", "p", "significant")}
        if decision.act and (best is None or details["improvement"] > best[1]["improvement"]):
            best = (
                challenger,
                {
                    "rule": "challenger",
                    "metric": metric,
                    "production": _metric(model, details["production_loss"]),
                    "challenger": _metric(model, details["challenger_loss"]),
                    "from_seq": evidence["seqs"][0],
                    "to_seq": evidence["seqs"][-1],
                    **details,
                    "summary": (
                        f"challenger v{challenger.number}'s {metric} over the last {details['window']} events is "
                        f"{_metric(model, details['challenger_loss']):.6g} against production "
                        f"v{production.number}'s {_metric(model, details['production_loss']):.6g}: "
                        f"{_percent(details['improvement'])} better, paired t-test p = {details['p']:.3g} "
                        f"(confidence {rule['confidence']:g})"
                    ),
                },
            )
    return best


def _percent(ratio: float | None) -> str:
    return "infinitely" if ratio is None else f"{ratio:.1%}"


# --- evaluation ----------------------------------------------------------------------------------------


def evaluate(*, model_id: int) -> str | None:
    """Evaluate the model's policy once and act on it; returns the decision (promote, rollback, hold), or
    None without a policy. Evaluations of one model queue on the policy's row lock, so two workers cannot
    both roll back."""
    with transaction.atomic():
        policy = Policy.objects.select_for_update().filter(model_id=model_id).first()
        if policy is None:
            return None
        model = MLModel.objects.select_related("production_version").get(pk=model_id)
        head = model.learn_seq
        production = model.production_version
        loss = LOSS_NAMES.get(model.flavor, "")
        notes: dict[str, Any] = {"loss": loss, "since_seq": policy.since_seq, "head": head}
        action, version, reason = Policy.Action.HOLD, None, None
        if production is None:
            notes["why"] = "no production version"
        else:
            if policy.auto_rollback:
                reason = _check_rollback(model, policy, production, head)
                if reason is not None:
                    action = Policy.Action.ROLLBACK
            if reason is None and policy.auto_promote:
                found = _check_promote(model, policy, production, head, notes)
                if found is not None:
                    action, (version, reason) = Policy.Action.PROMOTE, found
        if action == Policy.Action.HOLD:
            _record(policy, action, notes)
            return action
        reason = {"policy": policy.auto_promote if version else policy.auto_rollback, "loss": loss, **reason}
        note = f"automatic: {reason['summary']}"
        if action == Policy.Action.PROMOTE:
            deployment = catalogue_services.deployment_promote(
                version=version, note=note, automatic=True, reason=reason
            )
        else:
            deployment = catalogue_services.deployment_rollback(model=model, note=note, automatic=True, reason=reason)
        policy.since_seq = head
        versions = {"from_version": production.number, "to_version": deployment.to_version.number}
        _record(policy, action, {**reason, **versions})
        _announce(model, deployment, reason)
        return action


def _record(policy: Policy, action: str, details: dict) -> None:
    policy.decided_at = timezone.now()
    policy.decision = action
    policy.details = details
    policy.save(update_fields=["since_seq", "decided_at", "decision", "details", "updated_at"])


def _announce(model: MLModel, deployment, reason: dict) -> None:
    """A live event and an alert for an automatic action (both go out once the transaction commits)."""
    event = {
        "type": "policy",
        "model": model.name,
        "action": deployment.action,
        "from_version": deployment.from_version.number if deployment.from_version else None,
        "to_version": deployment.to_version.number if deployment.to_version else None,
        "reason": reason,
    }
    transaction.on_commit(lambda: publish(event, model=model.name, sample=False))
    logger.warning("%s: automatic %s: %s", model.name, deployment.action, reason["summary"])
    message = f"{model.name}: automatic {deployment.action} to v{event['to_version']}: {reason['summary']}"
    services.alert_raise_policy(model=model, message=message)


def evaluate_all() -> dict[str, str]:
    """Evaluate every policy (beat); {model name: decision}. One failing policy does not stop the others."""
    decisions = {}
    for model_id, name in Policy.objects.values_list("model_id", "model__name"):
        try:
            decisions[name] = evaluate(model_id=model_id)
        except Exception:
            logger.exception("evaluating the policy of %s failed", name)
    return decisions


# --- the trigger ---------------------------------------------------------------------------------------


def on_learn(*, model, learned, **_) -> None:
    """Observer: count the model's learns in this process; every RHYTHMIC_POLICY_EVAL_LEARNS of them, queue an
    evaluation for monitoring's worker (which looks the policy up, off the request thread)."""
    if worker.monitor().count("policy", model, n=len(learned), every=settings.RHYTHMIC_POLICY_EVAL_LEARNS):
        worker.submit(_evaluate_named, model=model)


def _evaluate_named(*, model: str) -> None:
    """Evaluate the policy of the model called ``model``, if it has one: here in the embedded default, on a
    Celery worker where a broker exists."""
    model_id = Policy.objects.filter(model__name=model).values_list("model_id", flat=True).first()
    if model_id is None:
        return
    from monitoring.tasks import evaluate_policy  # tasks import this module

    if evaluate_policy.app.conf.task_always_eager:
        evaluate(model_id=model_id)
    else:
        evaluate_policy.delay(model_id)
