"""Alert webhooks: each state change of an alert whose rule has a ``webhook_url`` gets a stored delivery, POSTed
by a Celery task that retries with exponential backoff (RHYTHMIC_WEBHOOK_MAX_RETRIES, ..._RETRY_BACKOFF).

Without a broker the task runs on this process's monitoring worker (never the request thread), and Celery
runs its retries there at once, one after the other, instead of after a backoff.
"""

import json
import logging
import urllib.error
import urllib.request

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from monitoring.models import Alert, WebhookDelivery

logger = logging.getLogger(__name__)


class WebhookFailed(Exception):
    """The receiver did not take the delivery (no answer, or not a 2xx): the task retries."""


def delivery_create(*, alert: Alert, url: str, event: dict) -> WebhookDelivery:
    """Store a pending delivery of ``event``; call inside the transaction that changed the alert, and queue
    ``queue_delivery`` on its commit."""
    return WebhookDelivery.objects.create(alert=alert, url=url, event=event)


def queue_delivery(delivery_id: int) -> None:
    """To the Celery worker with a broker; else to this process's monitoring worker (a slow receiver, up to
    RHYTHMIC_WEBHOOK_TIMEOUT per attempt, must never delay a request)."""
    from monitoring import tasks, worker

    task = tasks.deliver_webhook
    if task.app.conf.task_always_eager:
        worker.monitor().submit(task.apply, args=(delivery_id,))
    else:
        task.delay(delivery_id)


def post(url: str, body: dict) -> int:
    """POST ``body`` as JSON; the HTTP status of the answer. Raises WebhookFailed when it is no 2xx."""
    request = urllib.request.Request(  # noqa: S310 - the URL was validated as http(s) when the rule was saved
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "rhythmic-alerts"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.RHYTHMIC_WEBHOOK_TIMEOUT) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        raise WebhookFailed(f"answered {exc.code}", exc.code) from None
    except Exception as exc:  # unreachable, timed out, bad TLS
        raise WebhookFailed(f"{type(exc).__name__}: {exc}", None) from None


def delivery_attempt(*, delivery_id: int, last: bool) -> str | None:
    """One attempt: POST the delivery's event and record the outcome. Raises WebhookFailed (the task retries)
    unless it succeeded or this was the ``last`` attempt (then the delivery is failed). Returns the status."""
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None  # the alert was deleted with its rule, or a duplicate message of a finished delivery
    now = timezone.now()
    try:
        code = post(delivery.url, delivery.event)
    except WebhookFailed as exc:
        message, code = exc.args
        status = WebhookDelivery.Status.FAILED if last else WebhookDelivery.Status.PENDING
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            last_status_code=code,
            last_error=message[:500],
            status=status,
        )
        logger.warning("alert webhook %s %s (attempt %s)", delivery.url, message, delivery.attempts + 1)
        if last:
            return status
        raise
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        attempts=F("attempts") + 1,
        last_attempt_at=now,
        last_status_code=code,
        last_error="",
        status=WebhookDelivery.Status.SUCCEEDED,
        delivered_at=now,
    )
    return WebhookDelivery.Status.SUCCEEDED
