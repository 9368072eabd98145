"""Monitoring records: metric snapshots over time, drift points, alert rules and the alerts they raise.

Snapshots and drift points are keyed by the replicated state they describe (version, log sequence), so every
server process at the same state writes the same row and the unique constraint keeps one.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalogue.models import MLModel, ModelVersion


class MetricSnapshotQuerySet(models.QuerySet):
    def for_model(self, model: MLModel):
        return self.filter(model=model)


class MetricSnapshot(models.Model):
    """A version's online metrics at one learn-log sequence, with the writing process's request stats."""

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="metric_snapshots")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="metric_snapshots")
    state_seq = models.BigIntegerField()
    n_learned = models.PositiveBigIntegerField(default=0)
    metrics = models.JSONField(default=dict)
    #: {route: {"count", "mean", "p50", "p95", "p99"}} in nanoseconds, from the writing process.
    stats = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = MetricSnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["model", "created_at", "state_seq"]
        constraints = [models.UniqueConstraint(fields=["version", "state_seq"], name="unique_snapshot_state")]
        indexes = [models.Index(fields=["model", "created_at"], name="snapshot_model_time")]

    def __str__(self) -> str:
        return f"{self.version} @ {self.state_seq}"


class DriftPoint(models.Model):
    """A drift of a version's error stream, detected at learn-log entry ``seq`` (the same on every replica)."""

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="drift_points")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="drift_points")
    seq = models.BigIntegerField()
    n_drifts = models.PositiveIntegerField(default=0)
    detected_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["model", "seq"]
        constraints = [models.UniqueConstraint(fields=["version", "seq"], name="unique_drift_point")]

    def __str__(self) -> str:
        return f"drift of {self.version} at #{self.seq}"


class AlertRule(models.Model):
    """A condition on a model's signal (``signal comparison threshold``) checked over a time window."""

    class Comparison(models.TextChoices):
        GT = ">"
        GE = ">="
        LT = "<"
        LE = "<="

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=100)
    #: "metric:<river metric name>", "latency_p99" (seconds), "error_rate" (0-1), "lag" (entries), "drift" or
    #: "non_finite" (1 once the production version predicted NaN or infinity).
    signal = models.CharField(max_length=100)
    comparison = models.CharField(max_length=2, choices=Comparison.choices)
    threshold = models.FloatField()
    window_seconds = models.PositiveIntegerField(default=300)
    webhook_url = models.URLField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model", "name", "id"]

    def __str__(self) -> str:
        return f"{self.model.name}: {self.name} ({self.signal} {self.comparison} {self.threshold:g})"


class AlertQuerySet(models.QuerySet):
    def open(self):
        return self.filter(state__in=Alert.OPEN)


class Alert(models.Model):
    """One firing of a rule: firing until its condition clears (resolved); acknowledging stops re-notifying."""

    class State(models.TextChoices):
        FIRING = "firing"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"

    OPEN = (State.FIRING, State.ACKNOWLEDGED)

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    state = models.CharField(max_length=12, choices=State.choices, default=State.FIRING)
    value = models.FloatField(null=True)
    message = models.CharField(max_length=500)
    fired_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule"], condition=Q(state__in=["firing", "acknowledged"]), name="one_open_alert_per_rule"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule.name}: {self.state}"


class Policy(models.Model):
    """A model's promotion policy: promote a challenger that beats production, roll back a degrading production.

    ``auto_promote`` is ``{"window": W, "min_improvement": r, "confidence": c}`` and ``auto_rollback``
    ``{"window": W, "max_degradation": r}``; either may be null. Windows count learn-log entries; only entries
    after ``since_seq`` (the log head when the policy was set or production last changed) are evaluated, so a
    decision never rests on what an earlier production did. The last evaluation's outcome is kept.
    """

    class Action(models.TextChoices):
        PROMOTE = "promote"
        ROLLBACK = "rollback"
        HOLD = "hold"

    model = models.OneToOneField(MLModel, on_delete=models.CASCADE, related_name="policy")
    auto_promote = models.JSONField(null=True, blank=True)
    auto_rollback = models.JSONField(null=True, blank=True)
    since_seq = models.BigIntegerField(default=0)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision = models.CharField(max_length=10, choices=Action.choices, blank=True)
    details = models.JSONField(default=dict, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return f"policy of {self.model.name}"


class WebhookDelivery(models.Model):
    """One POST of an alert's state change to its rule's webhook, retried with backoff by a Celery task."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    #: the alert event POSTed, as it was when the state changed
    event = models.JSONField(default=dict)
    url = models.URLField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"alert {self.alert_id} to {self.url}: {self.status}"
