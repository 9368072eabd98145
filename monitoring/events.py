"""What the serving core and the catalogue do, turned into live events (see broadcast for delivery), and the
jobs that record drifts and non-finite states (queued by the observers, run by monitoring's worker).

An event caused by a database change is published once that change commits (``transaction.on_commit``).
"""

import logging

from django.db import transaction
from django.dispatch import receiver

from catalogue.signals import deployment_changed, version_validated
from monitoring import worker
from monitoring.live import publish, publish_many, publish_metrics
from serving.codec import jsonable

logger = logging.getLogger(__name__)


def on_predict(*, model, predicted) -> None:
    # One event per answered item, handed over in one call (a generator: not built when nobody listens).
    publish_many(
        (
            {
                "type": "predict",
                "model": model,
                "version": item.version,
                "features": item.features,
                "prediction": jsonable(item.prediction),
                "id": item.id,
                "state_seq": item.state_seq,
            }
            for item in predicted
        ),
        model=model,
    )


def on_learn(*, model, learned, metrics, state_seq) -> None:
    transaction.on_commit(lambda: _publish_learned(model, learned, metrics, state_seq))


def _publish_learned(model, learned, metrics, state_seq) -> None:
    # One event per learned entry, handed over in one call (a generator: not built when nobody listens).
    publish_many(
        (
            {
                "type": "learn",
                "model": model,
                "version": item.version,
                "features": item.features,
                "prediction": jsonable(item.prediction),
                "ground_truth": item.ground_truth,
                "id": item.id,
                "seq": item.seq,
            }
            for item in learned
        ),
        model=model,
    )
    publish_metrics(model, {"state_seq": state_seq, "versions": {str(n): values for n, values in metrics.items()}})


def on_drift(*, model, model_id, version_id, version, seq, n_drifts, **_) -> None:
    # Called inside the replica's catch-up with the model's lock held: only queue the record. The drifts of one
    # learn-many (or of one catch-up) are recorded by one job.
    from monitoring import tasks

    report = {
        "model": model,
        "model_id": model_id,
        "version_id": version_id,
        "version": version,
        "seq": seq,
        "n_drifts": n_drifts,
    }
    worker.submit_batched(("drift", model), record_drifts, report, task=tasks.record_drift)


def on_non_finite(*, model, model_id, version_id, version, seq, prediction, **_) -> None:
    # Reported with the model's lock held: only queue the report.
    from monitoring import tasks

    worker.submit(
        announce_non_finite,
        task=tasks.announce_non_finite,
        model=model,
        model_id=model_id,
        version_id=version_id,
        version=version,
        seq=seq,
        prediction=prediction,
    )


def record_drifts(reports: list[dict]) -> None:
    """Record drift points, announce them and evaluate the model's drift rules, once for all processes: every
    replica, and every replay after a restart, reports the same (version, seq). Several reports of one model go
    in one transaction, each announced, and the rules are evaluated once, against all of them."""
    from monitoring import alerts, services

    recorded = []
    with transaction.atomic():
        for report in reports:
            point = services.drift_point_record(
                model_id=report["model_id"],
                version_id=report["version_id"],
                seq=report["seq"],
                n_drifts=report["n_drifts"],
            )
            if point is not None:
                recorded.append(report)
    for report in recorded:
        event = {key: report[key] for key in ("model", "version", "seq", "n_drifts")}
        publish({"type": "drift", **event}, model=report["model"], sample=False)
    if recorded:
        alerts.evaluate_rules(model=recorded[0]["model"], signals=("drift",))


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
    event = {"type": "non_finite", "model": model, "version": version, "seq": seq, "prediction": prediction}
    transaction.on_commit(lambda: publish(event, model=model, sample=False))
    alerts.evaluate_rules(model=model, signals=("non_finite",))


def on_backtest(*, model, backtest) -> None:
    # Not sampled: a page draws the progress bar from these, and there is one per chunk of the log.
    publish({"type": "backtest", "model": model, **backtest}, model=model, sample=False)


def on_training(*, model, job) -> None:
    # Not sampled: the jobs page draws its progress bar from these.
    publish({"type": "training", "model": model, **job}, model=model, sample=False)


def on_deploy_task(*, model, task) -> None:
    # Not sampled: the model page's Deploys card redraws a deploy's status from these.
    publish({"type": "deploy_task", "model": model, **task}, model=model, sample=False)


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
