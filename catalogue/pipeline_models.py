"""Pipelines: named chains of catalogue models (multi-stage scoring), versioned like models, with their history.

Each stage is a model of the catalogue, served by its own production version; the pipeline only names them.
Imported by ``catalogue.models``, so Django registers these models with the catalogue app.
"""

from django.conf import settings
from django.db import models

from catalogue.models import slug_validator


class Pipeline(models.Model):
    """A named chain of models; one of its versions (a list of stages) may be in production."""

    name = models.CharField(max_length=100, unique=True, validators=[slug_validator])
    description = models.TextField(blank=True)
    production_version = models.ForeignKey(
        "PipelineVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="pipelines"
    )
    #: The next version number, bumped under the row lock.
    version_counter = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PipelineVersion(models.Model):
    """One list of stages of a pipeline, numbered 1, 2, 3… per pipeline. It never changes.

    ``stages`` is ``[{"model": "a", "as": "a_score"}, {"model": "b"}]``: each stage predicts on the features
    plus the outputs of the stages before it, under their ``as`` names; the last stage answers.
    """

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    stages = models.JSONField()
    message = models.CharField(max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pipeline", "-number"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "number"], name="unique_pipeline_version_number")]

    def __str__(self) -> str:
        return f"{self.pipeline.name} v{self.number}"

    @property
    def stage_models(self) -> list[str]:
        return [stage["model"] for stage in self.stages]


class PipelineDeployment(models.Model):
    """An append-only record of a change to a pipeline's production version."""

    class Action(models.TextChoices):
        PROMOTE = "promote"
        ROLLBACK = "rollback"

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="deployments")
    action = models.CharField(max_length=20, choices=Action.choices)
    from_version = models.ForeignKey(
        PipelineVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_version = models.ForeignKey(PipelineVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        def label(version):
            return f"v{version.number}" if version else "none"

        return f"{self.pipeline.name}: {self.action} {label(self.from_version)} -> {label(self.to_version)}"
