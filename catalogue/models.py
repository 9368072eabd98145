"""The versioned catalogue: locations, models, their immutable versions and the deployment history."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from catalogue.flavors import FLAVOR_CHOICES

slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,99}$",
    "Use 1-100 lowercase letters, digits, '-' or '_', starting with a letter or digit.",
)


class Location(models.Model):
    """A serving pool: the infrastructural unit where production instances of models run."""

    name = models.CharField(max_length=100, unique=True, validators=[slug_validator])
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_location")
        ]

    def __str__(self) -> str:
        return self.name


class MLModelQuerySet(models.QuerySet):
    def with_production(self):
        return self.select_related("production_version", "location", "owner")


class MLModel(models.Model):
    """A named model in the catalogue; its versions hold the artifacts, one of them may be in production."""

    name = models.CharField(max_length=100, unique=True, validators=[slug_validator])
    flavor = models.CharField(max_length=20, choices=FLAVOR_CHOICES)
    description = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    #: The flavor's options, set at creation and fixed for the model's life (a forecaster's metrics horizon).
    options = models.JSONField(default=dict, blank=True, editable=False)
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="models")
    production_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="ml_models"
    )
    # Counters bumped under the row lock: the next version number and the learn log's head.
    version_counter = models.PositiveIntegerField(default=0, editable=False)
    learn_seq = models.BigIntegerField(default=0, editable=False)
    # Label coverage: predictions with an id that got their ground truth, and those that expired without
    # (past RHYTHMIC_PENDING_TTL, or pushed out by RHYTHMIC_MAX_PENDING). Bumped in the statements that
    # already write the row or the pending table, never counted.
    pending_labelled = models.BigIntegerField(default=0, editable=False)
    pending_expired = models.BigIntegerField(default=0, editable=False)
    # Bumped by a rewind (serving.rewind): read with the log head, it tells every process to reload its replicas.
    state_generation = models.PositiveIntegerField(default=0, editable=False)
    # The challengers and the canary, denormalized from Challenger by the services that change them (in the
    # same transaction), so the serving core reads everything it routes by in the one row it reads anyway.
    challenger_ids = models.TextField(default="[]", editable=False)  # JSON list of ModelVersion ids
    canary_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    canary_percent = models.FloatField(default=0, editable=False)
    #: The last learn-log seq with shadow predictions: replicas look for shadow rows only below it.
    shadow_seq = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MLModelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "model"
        permissions = [("infer_mlmodel", "Can send predict and learn requests")]

    def __str__(self) -> str:
        return self.name


class ModelVersionQuerySet(models.QuerySet):
    def ready(self):
        return self.filter(status=ModelVersion.Status.READY)

    def without_artifact(self):
        return self.defer("artifact")


class ModelVersion(models.Model):
    """One uploaded artifact of a model, numbered 1, 2, 3… per model. Its bytes never change."""

    class Status(models.TextChoices):
        PENDING = "pending"
        VALIDATING = "validating"
        READY = "ready"
        FAILED = "failed"
        RETIRED = "retired"

    class Format(models.TextChoices):
        DILL = "dill"
        PICKLE = "pickle"
        JOBLIB = "joblib"
        ONNX = "onnx"

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    artifact = models.BinaryField()
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.DILL)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    requirements = models.TextField(blank=True)
    message = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    input_example = models.JSONField(null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    #: Set when a training job made the version: the rows it learned (kept while the version exists), the
    #: parameters it was trained with, and the job's metrics (prequential for river, holdout for scikit-learn).
    dataset = models.ForeignKey(
        "Dataset", null=True, blank=True, on_delete=models.PROTECT, related_name="versions", editable=False
    )
    params = models.JSONField(default=dict, blank=True, editable=False)
    training_metrics = models.JSONField(default=dict, blank=True, editable=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    validation_report = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    #: The learn-log sequence at which the version's live state first predicted a non-finite number (NaN,
    #: infinity), as the first serving process to meet it reported; null while its predictions are finite.
    non_finite_seq = models.BigIntegerField(null=True, blank=True, editable=False)
    non_finite_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["model", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="unique_version_number"),
            models.UniqueConstraint(fields=["model", "sha256"], name="unique_version_artifact"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.number}"

    @property
    def is_live(self) -> bool:
        return self.model.production_version_id == self.pk


class Deployment(models.Model):
    """An append-only record of a change to a model's production version."""

    class Action(models.TextChoices):
        PROMOTE = "promote"
        ROLLBACK = "rollback"
        RETIRE = "retire"
        ADD_CHALLENGER = "add_challenger"
        REMOVE_CHALLENGER = "remove_challenger"
        SET_CANARY = "set_canary"
        END_CANARY = "end_canary"

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="deployments")
    action = models.CharField(max_length=20, choices=Action.choices)
    from_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=500, blank=True)
    #: Made by a promotion policy (monitoring.policies), not a person; ``reason`` holds its evidence
    #: (metric values, window, test) as JSON, with a one-line ``summary``.
    automatic = models.BooleanField(default=False)
    reason = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        def label(version):
            return f"v{version.number}" if version else "none"

        return f"{self.model.name}: {self.action} {label(self.from_version)} -> {label(self.to_version)}"


class Challenger(models.Model):
    """A version that learns every event beside production and is scored on them, but never answers clients."""

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="challengers")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["model", "added_at", "id"]
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="unique_challenger")]

    def __str__(self) -> str:
        return f"{self.version} (challenger)"


class CompatWorkspace(models.Model):
    """The state chantilly's routes expect: one flavor, a default model, the models uploaded through them.

    A singleton (pk=1). Starting it afresh archives its models (versions retired, names freed), never deletes.
    """

    flavor = models.CharField(max_length=20, choices=FLAVOR_CHOICES, blank=True)
    default_model = models.ForeignKey(MLModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    members = models.ManyToManyField(MLModel, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "chantilly workspace"

    def __str__(self) -> str:
        return f"chantilly workspace ({self.flavor or 'no flavor'})"


class Dataset(models.Model):
    """A table of training rows kept in the database: an uploaded CSV or JSON Lines file, or a slice of a
    model's learn log. Its bytes never change; ``columns`` is the schema inferred when it was stored.
    Read it with ``catalogue.datasets.dataset_rows``."""

    class Format(models.TextChoices):
        CSV = "csv"
        JSONL = "jsonl"

    name = models.CharField(max_length=100, unique=True, validators=[slug_validator])
    description = models.TextField(blank=True)
    format = models.CharField(max_length=10, choices=Format.choices)
    #: The column holding the ground truth; every other column is a feature.
    target = models.CharField(max_length=200)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    rows = models.PositiveBigIntegerField()
    #: [{"name": ..., "type": "number" | "boolean" | "string", "missing": <rows without a value>}, ...] in file order.
    columns = models.JSONField(default=list)
    #: Set when the dataset was built from a model's learn log: the model and the seq range it holds.
    source_model = models.ForeignKey(MLModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    from_seq = models.BigIntegerField(null=True, blank=True)
    to_seq = models.BigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


# Pipelines live in a module of their own; importing them here registers them with the catalogue app.
from catalogue.pipeline_models import Pipeline, PipelineDeployment, PipelineVersion  # noqa: E402

__all__ = [
    "Challenger",
    "CompatWorkspace",
    "Dataset",
    "Deployment",
    "Location",
    "MLModel",
    "ModelVersion",
    "Pipeline",
    "PipelineDeployment",
    "PipelineVersion",
]
