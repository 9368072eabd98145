"""The serving core's durable state: the learn log, pending predictions, checkpoints, backtests, training jobs,
production instances and deployment tasks.

They moved here from ``catalogue`` with their tables, indexes and constraints unchanged (state-only migrations).
"""

from django.conf import settings
from django.db import models

from catalogue.fields import JSONTextField
from catalogue.models import Dataset, Deployment, Location, MLModel, ModelVersion


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


class Backtest(models.Model):
    """A version's artifact replayed over a range of the model's learn log, prequentially, as a background job.

    ``metrics`` is what the replay scored (predict on the logged features, fold the logged ground truth, learn);
    ``baseline`` is what the versions that served those events scored (their logged predictions). Both are
    ``{"values": {metric: value}, "n_scored": n, "n_not_scored": n}``, updated after every chunk.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="backtests")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="backtests")
    from_seq = models.BigIntegerField()
    to_seq = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    events_done = models.BigIntegerField(default=0)
    events_total = models.BigIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    baseline = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    #: Touched by the runner when it starts and after every chunk: a running backtest whose heartbeat is older
    #: than RHYTHMIC_BACKTEST_STALE_SECONDS lost its runner (a killed worker, a restarted server).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model", "-created_at", "-pk"]

    def __str__(self) -> str:
        return f"backtest {self.pk} of {self.model_id} v{self.version_id} [{self.from_seq}, {self.to_seq}]"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED


class TrainingJob(models.Model):
    """A version trained on a dataset into the model's next version, as a background job (serving.training).

    River models learn the rows in file order, scored prequentially (``metrics``: as ``river.evaluate.
    progressive_val_score``); scikit-learn ones ``fit`` (or ``partial_fit``) and are scored on a holdout.
    ``result`` is the version it made: its parent is ``version``, and it records the dataset, params and metrics.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Start(models.TextChoices):
        ARTIFACT = "artifact"
        LIVE = "live"

    class Method(models.TextChoices):
        LEARN_ONE = "learn_one"
        FIT = "fit"
        PARTIAL_FIT = "partial_fit"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="training_jobs")
    kind = models.CharField(max_length=10, default="train")
    #: The version trained: its artifact, or (start "live") its live state, is where training starts.
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="training_jobs")
    dataset = models.ForeignKey(Dataset, null=True, on_delete=models.SET_NULL, related_name="training_jobs")
    dataset_name = models.CharField(max_length=100)  # kept when the dataset is deleted later
    start = models.CharField(max_length=10, choices=Start.choices, default=Start.ARTIFACT)
    #: How it learned (learn_one for river; fit or partial_fit for scikit-learn); empty until it starts, when a
    #: scikit-learn model without a requested method fits.
    method = models.CharField(max_length=12, choices=Method.choices, blank=True)
    params = models.JSONField(default=dict, blank=True)
    #: scikit-learn: the share of the rows (the last ones, in file order) scored and not trained on.
    holdout = models.FloatField(default=0.0)
    promote = models.BooleanField(default=False)
    message = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    rows_done = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    result = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="made_by_jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    #: Touched when it starts and after every chunk of rows: a running job whose heartbeat is older than
    #: RHYTHMIC_TRAINING_STALE_SECONDS lost its runner (a killed worker, a restarted server).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model", "-created_at", "-pk"]

    def __str__(self) -> str:
        return f"training job {self.pk} of {self.model_id} v{self.version_id} on {self.dataset_name}"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED


class VersionSkip(models.Model):
    """Learn-log entries ``from_seq``..``to_seq`` (inclusive) that a version does not learn: a rewind put them
    aside. They stay in the log for audit; replicas of the version pass over them when they replay."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="skips")
    from_seq = models.BigIntegerField()
    to_seq = models.BigIntegerField()

    class Meta:
        db_table = "serving_versionskip"
        ordering = ["version", "from_seq"]
        constraints = [
            models.CheckConstraint(condition=models.Q(from_seq__lte=models.F("to_seq")), name="skip_range_ordered")
        ]

    def __str__(self) -> str:
        return f"{self.version_id}: skip #{self.from_seq}-#{self.to_seq}"


class Rewind(models.Model):
    """The audit record of a rewind: who brought which version's live state back, to where, and why."""

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="rewinds")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="rewinds")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    #: Back to right after this entry (null when ``skip`` was given instead).
    to_seq = models.BigIntegerField(null=True, blank=True)
    #: The entries put aside, when a list was given (empty for a ``to_seq`` rewind).
    skip = models.JSONField(default=list, blank=True)
    #: The log head when the rewind was made: entries up to here were considered.
    head_seq = models.BigIntegerField()
    #: How many of the version's learned entries were undone.
    n_undone = models.PositiveBigIntegerField(default=0)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "serving_rewind"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        point = f"to #{self.to_seq}" if self.to_seq is not None else f"skipping {self.skip}"
        return f"{self.model.name} v{self.version.number}: rewind {point}"


class Instance(models.Model):
    """A production instance: a serving process (HTTP or socket server) that registered itself at start and
    keeps its row fresh with heartbeats (``serving.instances``). What it reports is what a deploy checks."""

    class Kind(models.TextChoices):
        WSGI = "wsgi"  # gunicorn, granian WSGI, or any WSGI server
        ASGI = "asgi"  # daphne, uvicorn on rhythmic.asgi
        ONESITE = "onesite"  # make run's server (rhythmic.serve): HTTP on WSGI threads, sockets on ASGI

    #: host:pid:start token, unique for the life of the process.
    key = models.CharField(max_length=200, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    #: The location this process serves (RHYTHMIC_LOCATION); empty: every location.
    location = models.CharField(max_length=100, blank=True)
    #: The channel-layer channel on which this process takes commands (a deploy's pre-load); empty: none.
    channel = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    last_beat = models.DateTimeField(db_index=True)
    #: Set when the process stopped cleanly (it deregistered); a process that died just stops beating.
    stopped_at = models.DateTimeField(null=True, blank=True)
    #: {"python": "3.11.2", "packages": {"river": "0.22.0", "scikit-learn": "1.5.0", ...}}
    runtime = models.JSONField(default=dict, blank=True)
    #: Per loaded model, by name: {"versions": [3, 4], "applied_seq": 120, "lag": 0}
    models = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "serving_instance"
        ordering = ["location", "host", "pid"]

    def __str__(self) -> str:
        return f"{self.key} ({self.kind}, {self.location or 'every location'})"


class DeploymentTask(models.Model):
    """A deploy of a version to a location (``serving.deploy``): the location's live instances are checked and
    asked to pre-load the version, and production switches only when every one of them is ready."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PRELOADING = "preloading"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="deployment_tasks")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    #: The target: the model's location when the deploy was asked, or another one (a move).
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    #: Why it failed (which instance, which package), one line.
    reason = models.TextField(blank=True)
    timeout_s = models.FloatField()
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: The switch it made, once it succeeded.
    deployment = models.ForeignKey(Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        db_table = "serving_deployment_task"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.version.number} to {self.location or 'no location'}: {self.status}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class Preload(models.Model):
    """One instance's part in a deploy: asked to pre-load the version, then ready (with the log sequence its
    replica had applied) or failed (why). The instance is named, not linked: its row is pruned, the record stays."""

    class Status(models.TextChoices):
        ASKED = "asked"
        READY = "ready"
        FAILED = "failed"

    task = models.ForeignKey(DeploymentTask, on_delete=models.CASCADE, related_name="preloads")
    instance_key = models.CharField(max_length=200, db_index=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ASKED)
    error = models.TextField(blank=True)
    asked_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    applied_seq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "serving_preload"
        ordering = ["host", "pid"]
        constraints = [models.UniqueConstraint(fields=["task", "instance_key"], name="one_preload_per_instance")]

    def __str__(self) -> str:
        return f"{self.instance_key}: {self.status}"
