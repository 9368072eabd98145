"""Celery tasks of the catalogue: thin wrappers over services."""

from celery import shared_task

from catalogue import services


@shared_task(name="catalogue.validate_version", acks_late=True)
def validate_version(version_id: int) -> str | None:
    """Validate an uploaded version in the worker; the result is stored on the version."""
    version = services.model_version_validate(version_id=version_id)
    return version.status if version else None


@shared_task(name="catalogue.expire_pending")
def expire_pending() -> int:
    """Remove pending predictions older than RHYTHMIC_PENDING_TTL (run hourly by Celery beat)."""
    from serving import log

    return log.pending_expire()


@shared_task(name="catalogue.prune_log")
def prune_log() -> int:
    """Delete learn-log entries past the retention that checkpoints cover (run hourly by Celery beat)."""
    from serving import retention

    return retention.log_prune()
