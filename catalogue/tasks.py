"""Celery tasks of the catalogue: thin wrappers over services."""

from celery import shared_task

from catalogue import services


@shared_task(name="catalogue.validate_version", acks_late=True)
def validate_version(version_id: int) -> str | None:
    """Validate an uploaded version in the worker; the result is stored on the version."""
    version = services.model_version_validate(version_id=version_id)
    return version.status if version else None
