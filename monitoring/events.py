"""What the serving core and the catalogue do, turned into live events (see broadcast for delivery)."""

import logging
import threading

from django.dispatch import receiver

from catalogue.signals import deployment_changed, version_validated
from monitoring.live import publish, publish_metrics
from serving.codec import jsonable
from serving.observers import observe

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_non_finite: dict[int, dict] = {}  # version id -> the core's first report, until the serving call ends


@observe("predict")
def on_predict(*, model, version, features, prediction, id, state_seq) -> None:
    publish(
        {
            "type": "predict",
            "model": model,
            "version": version,
            "features": features,
            "prediction": jsonable(prediction),
            "id": id,
            "state_seq": state_seq,
        },
        model=model,
    )


@observe("learn")
def on_learn(*, model, learned, metrics, state_seq) -> None:
    for item in learned:
        publish(
            {
                "type": "learn",
                "model": model,
                "version": item.version,
                "features": item.features,
                "prediction": jsonable(item.prediction),
                "ground_truth": item.ground_truth,
                "id": item.id,
                "seq": item.seq,
            },
            model=model,
        )
    publish_metrics(model, {"state_seq": state_seq, "versions": {str(n): values for n, values in metrics.items()}})


@observe("drift")
def on_drift(*, model, model_id, version_id, version, seq, n_drifts, **_) -> None:
    # Every replica, and every replay after a restart, reports the same (version, seq): announce it once.
    from monitoring import services

    if services.drift_point_record(model_id=model_id, version_id=version_id, seq=seq, n_drifts=n_drifts) is None:
        return
    publish(
        {"type": "drift", "model": model, "version": version, "seq": seq, "n_drifts": n_drifts},
        model=model,
        sample=False,
    )


@observe("non_finite")
def on_non_finite(**report) -> None:
    # Reported with the model's lock held: only queue it; the end of the serving call records it.
    with _lock:
        _non_finite.setdefault(report["version_id"], report)


@observe("request")
def on_request(**_) -> None:
    if not _non_finite:  # the hot path: one dict check per serving call
        return
    with _lock:
        reports = list(_non_finite.values())
        _non_finite.clear()
    for report in reports:
        announce_non_finite(**report)


def announce_non_finite(*, model, model_id, version_id, version, seq, prediction, **_) -> None:
    """Flag the version, publish a ``non_finite`` event and evaluate the model's non_finite rules, once for all
    processes: a process that meets an already flagged version (or a restart) records nothing again."""
    from catalogue import services as catalogue_services
    from monitoring import alerts

    if not catalogue_services.model_version_mark_non_finite(version_id=version_id, seq=seq):
        return
    logger.warning(
        "%s v%s predicted %s at learn #%s: its live state has turned non-finite", model, version, prediction, seq
    )
    publish(
        {"type": "non_finite", "model": model, "version": version, "seq": seq, "prediction": prediction},
        model=model,
        sample=False,
    )
    alerts.evaluate_rules(model=model, signals=("non_finite",))


@observe("backtest")
def on_backtest(*, model, backtest) -> None:
    # Not sampled: a page draws the progress bar from these, and there is one per chunk of the log.
    publish({"type": "backtest", "model": model, **backtest}, model=model, sample=False)


@receiver(deployment_changed)
def on_deployment(sender, deployment, **kwargs) -> None:
    publish(
        {
            "type": "deploy",
            "model": deployment.model.name,
            "action": deployment.action,
            "from_version": deployment.from_version.number if deployment.from_version else None,
            "to_version": deployment.to_version.number if deployment.to_version else None,
            "user": deployment.user.username if deployment.user else None,
            "note": deployment.note,
            "automatic": deployment.automatic,
        },
        model=deployment.model.name,
        sample=False,
    )


@receiver(version_validated)
def on_validated(sender, version, **kwargs) -> None:
    publish(
        {
            "type": "validation",
            "model": version.model.name,
            "version": version.number,
            "status": version.status,
            "summary": version.validation_report.get("summary", ""),
        },
        model=version.model.name,
        sample=False,
    )
