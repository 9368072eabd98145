"""Pipelines served: each stage predicts and learns through the serving core's own predict and learn.

A pipeline adds no state of its own: its stages are models with their replicas, learn logs, metrics, canaries
and challengers. A prediction with an ``id`` stores each stage's pending prediction under the derived id
``<pipeline>:<id>`` (``stage_id``), so a learn by that id reaches every stage with exactly the features it saw.
"""

from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from catalogue import pipelines as catalogue_pipelines
from catalogue.errors import Conflict, InvalidInput, NotFound
from catalogue.flavors import GroundTruthError, get_flavor
from catalogue.models import MLModel
from serving import inference, log
from serving.codec import jsonable
from serving.models import PendingPrediction


@dataclass(frozen=True)
class Stage:
    model: str
    output: str | None  # the ``as`` name its prediction is fed to later stages under
    flavor: str
    model_id: int


@dataclass
class PipelineAnswer:
    pipeline: str
    version: int
    prediction: Any
    stages: dict[str, dict] = field(default_factory=dict)
    id: Any = None

    def as_dict(self) -> dict:
        body = {
            "pipeline": self.pipeline,
            "version": self.version,
            "prediction": jsonable(self.prediction),
            "stages": self.stages,
        }
        if self.id is not None:
            body["id"] = self.id
        return body


def stage_id(pipeline: str, prediction_id: Any) -> str:
    """The id a stage's pending prediction is stored under: ``<pipeline>:<id>`` (so 42 and "42" are one id)."""
    derived = f"{pipeline}:{prediction_id}"
    if len(derived) > 190:
        raise InvalidInput(
            f"with the pipeline's name, the id makes {len(derived)} characters; the stages' ids hold at most 190",
            field="id",
        )
    return derived


def stage_feature(stage: Stage, prediction: Any) -> Any:
    """A stage's prediction as a feature of the next stages: a number or label as it is, a binary model's
    probability of ``true``, a multi-class model's most likely label."""
    if isinstance(prediction, dict):
        if not prediction:
            raise InvalidInput(f"stage {stage.model} predicted no probabilities: it has learned nothing yet")
        if stage.flavor == "binary":
            return float(prediction.get(True, 0.0))
        return max(prediction.items(), key=lambda item: item[1])[0]
    if isinstance(prediction, list | tuple):
        raise InvalidInput(
            f"stage {stage.model} predicted a list: a feature of the next stages must be a number or a label",
            code="bad_stage_output",
        )
    return prediction


def _stages(pipeline: str) -> tuple[int, list[Stage]]:
    """(production version number, stages with their models) of the pipeline, or the 404/409 that says why not."""
    found = catalogue_pipelines.pipeline_get(name=pipeline)
    if found is None:
        raise NotFound(f"no pipeline named {pipeline!r}")
    version = found.production_version
    if version is None:
        raise Conflict(f"pipeline {pipeline} has no production version: promote one", code="no_production")
    names = version.stage_models
    rows = MLModel.objects.filter(name__in=names).values("pk", "name", "flavor", "production_version")
    models = {row["name"]: row for row in rows}
    stages = []
    for index, spec in enumerate(version.stages):
        model = models.get(spec["model"])
        if model is None:
            raise Conflict(
                f"stage {index} of {pipeline} v{version.number} names model {spec['model']!r}, which no longer exists",
                code="stage_missing",
            )
        if model["production_version"] is None:
            raise Conflict(
                f"stage {spec['model']} of {pipeline} has no production version: promote one of its versions",
                code="no_production",
            )
        stages.append(Stage(spec["model"], spec.get("as"), model["flavor"], model["pk"]))
    return version.number, stages


# --- predict ------------------------------------------------------------------------------------


def predict(*, pipeline: str, features: Any, id: Any = None) -> PipelineAnswer:
    """Each stage predicts with its model's production version (canary, challengers and all) on the features
    plus the earlier stages' outputs; the last stage's prediction answers. With an ``id``, every stage keeps
    its pending prediction under ``stage_id(pipeline, id)``."""
    if not isinstance(features, dict):
        raise InvalidInput('features must be a JSON object, like {"x": 1.5, "city": "Paris"}', field="features")
    prediction_id = inference._clean_id(id)
    derived = None if prediction_id is None else stage_id(pipeline, prediction_id)
    number, stages = _stages(pipeline)
    for stage in stages:
        if stage.output is not None and stage.output in features:
            raise InvalidInput(
                f"features.{stage.output} is the name of stage {stage.model}'s output; rename the feature",
                field=f"features.{stage.output}",
            )
    seen = dict(features)
    answer = PipelineAnswer(pipeline, number, None, id=prediction_id)
    for stage in stages:
        result = inference.predict(model=stage.model, features=dict(seen), id=derived)
        body = result.as_dict()
        body.pop("id", None)
        answer.stages[stage.model] = body
        answer.prediction = result.prediction
        if stage.output is not None:
            seen[stage.output] = stage_feature(stage, result.prediction)
    return answer


# --- learn --------------------------------------------------------------------------------------


def learn(*, pipeline: str, id: Any, ground_truth: Any = None) -> dict:
    """Learn by the id given to predict: the last stage learns ``ground_truth`` on exactly the features it saw,
    anomaly stages learn their features; a ``{"<stage model>": ground truth}`` object gives stages their own.
    Every stage is checked (ground truth, pending prediction) before any learns."""
    prediction_id = inference._clean_id(id)
    if prediction_id is None:
        raise InvalidInput("id is required: the id given to the pipeline's predict", field="id")
    derived = stage_id(pipeline, prediction_id)
    number, stages = _stages(pipeline)
    plan = _plan(stages, ground_truth)
    _check_pending(pipeline, prediction_id, derived, [stage for stage, _ in plan])
    learned = {}
    for stage, truth in plan:
        body = inference.learn(model=stage.model, id=derived, ground_truth=truth).as_dict()
        body.pop("id", None)
        learned[stage.model] = body
    return {"pipeline": pipeline, "version": number, "id": prediction_id, "stages": learned}


def _plan(stages: list[Stage], ground_truth: Any) -> list[tuple[Stage, Any]]:
    """(stage, its ground truth) for every stage that learns: those given one, and the unsupervised ones."""
    names = [stage.model for stage in stages]
    if isinstance(ground_truth, dict):
        unknown = sorted(set(ground_truth) - set(names))
        if unknown or not ground_truth:
            raise InvalidInput(
                f"ground_truth as an object gives stages their own: its keys are stage models ({', '.join(names)})"
                + (f"; {', '.join(map(repr, unknown))} is none" if unknown else "; it is empty"),
                field="ground_truth",
            )
        truths = dict(ground_truth)
    else:
        truths = {} if ground_truth is None else {names[-1]: ground_truth}
    plan = []
    for stage in stages:
        flavor = get_flavor(stage.flavor)
        truth = truths.get(stage.model)
        if truth is None and flavor.ground_truth_required:
            if stage is stages[-1]:
                raise InvalidInput(
                    f"ground_truth is required: the last stage, {stage.model}, is a {flavor.name} model",
                    field="ground_truth",
                )
            continue  # a supervised stage before the last learns only when given its own ground truth
        field_name = "ground_truth" if not isinstance(ground_truth, dict) else f"ground_truth.{stage.model}"
        inference._check_numbers(truth, field_name)
        try:
            flavor.clean_ground_truth(truth)
        except GroundTruthError as exc:
            raise InvalidInput(f"{stage.model}: {exc}", field=field_name) from None
        plan.append((stage, truth))
    return plan


def _check_pending(pipeline: str, prediction_id: Any, derived: str, stages: list[Stage]) -> None:
    """Every learning stage still holds the id's pending prediction; otherwise nothing learns (404 or 409)."""
    key = log.pending_key(derived)
    cutoff = timezone.now() - log.pending_ttl()
    waiting = set(
        PendingPrediction.objects.filter(
            model_id__in=[s.model_id for s in stages], key=key, created_at__gte=cutoff
        ).values_list("model_id", flat=True)
    )
    for stage in stages:
        if stage.model_id in waiting:
            continue
        if log.was_learned(model_id=stage.model_id, key=key):
            raise Conflict(
                f"id {prediction_id!r} was already learned by stage {stage.model}; "
                "an id is consumed by its first learn",
                field="id",
            )
        raise NotFound(
            f"no pending prediction of pipeline {pipeline} with id {prediction_id!r} at stage {stage.model}: "
            f"predict with this id first (a learn uses the stages of the production version; an id waits "
            f"RHYTHMIC_PENDING_TTL seconds at most)",
            field="id",
        )
