"""Celery tasks of the serving core: thin wrappers over the learn log's upkeep, backtests and training jobs.

Their names keep the ``catalogue.`` prefix they had before the serving core became its own app, so a beat
schedule that names them keeps working.
"""

from celery import shared_task

from serving import backtests, deploy, log, retention, training


@shared_task(name="catalogue.expire_pending")
def expire_pending() -> int:
    """Remove pending predictions older than RHYTHMIC_PENDING_TTL (run hourly by Celery beat)."""
    return log.pending_expire()


@shared_task(name="catalogue.prune_log")
def prune_log() -> int:
    """Delete learn-log entries past the retention that checkpoints cover (run hourly by Celery beat)."""
    return retention.log_prune()


@shared_task(name="serving.run_backtest", acks_late=True)
def run_backtest(backtest_id: int) -> str:
    """Replay a queued backtest in the worker; progress and results are stored on the backtest."""
    return backtests.run(backtest_id)


@shared_task(name="serving.recover_backtests")
def recover_backtests() -> int:
    """Mark failed the running backtests whose runner stopped (no heartbeat for RHYTHMIC_BACKTEST_STALE_SECONDS)."""
    return backtests.backtest_recover_stale()


# acks_late: a worker killed mid-job leaves the message unacknowledged, but the job's row is running by then,
# so a redelivery finds it not queued and leaves it to the stale sweep (failed, never running forever).
@shared_task(name="serving.run_training", acks_late=True)
def run_training(job_id: int) -> str:
    """Run a queued training job in the worker; progress, metrics and the new version are stored on the job."""
    return training.run(job_id)


@shared_task(name="serving.recover_training")
def recover_training() -> int:
    """Mark failed the running training jobs whose runner stopped (no heartbeat for RHYTHMIC_TRAINING_STALE_SECONDS)."""
    return training.training_recover_stale()


# acks_late: a worker killed mid-deploy leaves the message unacknowledged; a redelivery finds the task no longer
# pending and leaves it as it is.
@shared_task(name="serving.run_deployment", acks_late=True)
def run_deployment(task_id: int) -> str:
    """Run a deploy: check and pre-load on every live instance of the location, then switch production."""
    return deploy.run(task_id)
