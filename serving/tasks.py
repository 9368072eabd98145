"""Celery tasks of the serving core: thin wrappers over the learn log's upkeep and backtests.

Their names keep the ``catalogue.`` prefix they had before the serving core became its own app, so a beat
schedule that names them keeps working.
"""

from celery import shared_task

from serving import backtests, log, retention


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
