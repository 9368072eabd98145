"""The serving core's durable state: the learn log, pending predictions and checkpoints.

They moved here from ``catalogue`` with their tables, indexes and constraints unchanged (state-only migrations).
"""

from django.db import models

from catalogue.fields import JSONTextField
from catalogue.models import MLModel, ModelVersion


class LearnEvent(models.Model):
    """One acknowledged learn: an entry of the model's totally ordered learn log.

    ``seq`` is assigned under the model row's lock and committed with it, so sequence order is
    visibility order. Replicas fold ``prediction`` (made at predict time) into the version's metrics,
    then learn ``features`` -> ``ground_truth``.
    """

    # No index of their own on the two foreign keys: (model, seq) and (version, seq) lead with them, and
    # every index is one more B-tree to update per learn.
    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="learn_events", db_index=False)
    seq = models.BigIntegerField()
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="learn_events", db_index=False)
    key = models.CharField(max_length=200, null=True, blank=True)
    features = JSONTextField()
    ground_truth = JSONTextField(null=True)
    prediction = JSONTextField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "catalogue_learnevent"  # the table kept its name when the model moved from catalogue
        ordering = ["model", "seq"]
        constraints = [models.UniqueConstraint(fields=["model", "seq"], name="unique_learn_seq")]
        indexes = [
            models.Index(fields=["version", "seq"], name="learn_version_seq"),
            models.Index(fields=["model", "key"], name="learn_model_key"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id}#{self.seq}"


class PendingPrediction(models.Model):
    """A prediction made with an ``id``, waiting for its ground truth; a learn with that id consumes it."""

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="pending_predictions", db_index=False)
    key = models.CharField(max_length=200)  # (model, key) is unique, and that index leads with model
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    features = JSONTextField()
    prediction = JSONTextField(null=True)
    #: The other learning versions' predictions at the same moment (challengers, canary or production):
    #: {version id: encoded prediction}; null when there were none.
    shadow = JSONTextField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "catalogue_pendingprediction"
        constraints = [models.UniqueConstraint(fields=["model", "key"], name="unique_pending_key")]
        indexes = [models.Index(fields=["created_at"], name="pending_created")]

    def __str__(self) -> str:
        return f"{self.model_id}:{self.key}"


class ShadowPrediction(models.Model):
    """The prediction of a learning version that did not answer a learn-log entry (a challenger, the canary or
    production beside it). A version's stream is the entries it answered and its shadow rows, in seq order;
    the features and ground truth are the entry's."""

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="+", db_index=False)
    seq = models.BigIntegerField()
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+", db_index=False)
    prediction = JSONTextField(null=True)

    class Meta:
        db_table = "serving_shadowprediction"
        constraints = [models.UniqueConstraint(fields=["model", "seq", "version"], name="unique_shadow_prediction")]
        indexes = [models.Index(fields=["version", "seq"], name="shadow_version_seq")]

    def __str__(self) -> str:
        return f"{self.model_id}#{self.seq} v{self.version_id}"


class Checkpoint(models.Model):
    """A version's learned state and online metrics including every learn-log entry up to ``seq``."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="checkpoints")
    seq = models.BigIntegerField()
    n_learned = models.PositiveBigIntegerField(default=0)
    state = models.BinaryField()
    metrics = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "catalogue_checkpoint"
        ordering = ["version", "-seq"]
        constraints = [models.UniqueConstraint(fields=["version", "seq"], name="unique_checkpoint_seq")]

    def __str__(self) -> str:
        return f"{self.version} @ {self.seq}"
