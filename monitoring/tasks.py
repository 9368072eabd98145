"""Celery tasks of monitoring: periodic snapshots, alert and policy evaluation (Celery beat), pruning, webhook
deliveries, and the drift and non-finite records serving processes send when a broker exists."""

import logging

from celery import shared_task
from django.conf import settings

from monitoring import webhooks
from monitoring.webhooks import WebhookFailed

logger = logging.getLogger(__name__)


@shared_task(name="monitoring.snapshot_models")
def snapshot_models() -> int:
    """Snapshot each production version that learned since its last snapshot."""
    from monitoring import history

    return history.snapshot_models()


@shared_task(name="monitoring.evaluate_alerts")
def evaluate_alerts(model: str | None = None) -> int:
    """Evaluate the enabled alert rules (of ``model``); returns how many alerts changed state."""
    from monitoring import alerts

    return len(alerts.evaluate_rules(model=model))


@shared_task(name="monitoring.evaluate_policy")
def evaluate_policy(model_id: int) -> str | None:
    """Evaluate one model's promotion policy and act on it; returns the decision (None without a policy)."""
    from monitoring import policies

    return policies.evaluate(model_id=model_id)


@shared_task(name="monitoring.evaluate_policies")
def evaluate_policies() -> dict[str, str]:
    """Evaluate every promotion policy (Celery beat)."""
    from monitoring import policies

    return policies.evaluate_all()


@shared_task(name="monitoring.prune_history")
def prune_history() -> int:
    from monitoring import services

    return services.history_prune(days=settings.RHYTHMIC_HISTORY_DAYS)


@shared_task(name="monitoring.record_drift")
def record_drift(**report) -> None:
    """Record a drift point reported by a serving process (sent by its observer, with a broker)."""
    from monitoring import events

    events.record_drifts([report])


@shared_task(name="monitoring.announce_non_finite")
def announce_non_finite(**report) -> None:
    """Flag a version whose live state turned non-finite (sent by a serving process's observer, with a broker)."""
    from monitoring import events

    events.announce_non_finite(**report)


@shared_task(
    bind=True,
    name="monitoring.deliver_webhook",
    autoretry_for=(WebhookFailed,),
    retry_backoff=settings.RHYTHMIC_WEBHOOK_RETRY_BACKOFF,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=settings.RHYTHMIC_WEBHOOK_MAX_RETRIES,
)
def deliver_webhook(self, delivery_id: int) -> str | None:
    """POST a stored webhook delivery; retried with exponential backoff until it succeeds or runs out of tries."""
    return webhooks.delivery_attempt(delivery_id=delivery_id, last=self.request.retries >= self.max_retries)
