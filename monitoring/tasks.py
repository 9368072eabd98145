"""Celery tasks of monitoring: periodic snapshots, alert and policy evaluation (Celery beat), pruning, webhooks."""

import json
import logging
import urllib.error
import urllib.request

from celery import shared_task
from django.conf import settings

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


@shared_task(name="monitoring.send_webhook")
def send_webhook(url: str, payload: dict) -> int | None:
    """POST ``payload`` as JSON to ``url``; returns the HTTP status, or None when it failed (logged, not raised)."""
    request = urllib.request.Request(  # noqa: S310 - the URL was validated as http(s) when the rule was saved
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "rhythmic-alerts"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.RHYTHMIC_WEBHOOK_TIMEOUT) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        logger.warning("alert webhook %s answered %s", url, exc.code)
        return exc.code
    except Exception as exc:  # unreachable, timed out, bad TLS: log it, never raise into serving
        logger.warning("alert webhook %s failed: %s", url, exc)
        return None
