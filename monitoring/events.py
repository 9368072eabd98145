"""What the serving core and the catalogue do, turned into live events (see broadcast for delivery)."""

from django.dispatch import receiver

from catalogue.runtime.codec import jsonable
from catalogue.runtime.observers import observe
from catalogue.signals import deployment_changed, version_validated
from monitoring.broadcast import publish, publish_metrics


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
