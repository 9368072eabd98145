"""Celery tasks of the serving core: thin wrappers over the learn log's upkeep.

Their names keep the ``catalogue.`` prefix they had before the serving core became its own app, so a beat
schedule that names them keeps working.
"""

from celery import shared_task

from serving import log, retention


@shared_task(name="catalogue.expire_pending")
def expire_pending() -> int:
    """Remove pending predictions older than RHYTHMIC_PENDING_TTL (run hourly by Celery beat)."""
    return log.pending_expire()


@shared_task(name="catalogue.prune_log")
def prune_log() -> int:
    """Delete learn-log entries past the retention that checkpoints cover (run hourly by Celery beat)."""
    return retention.log_prune()
