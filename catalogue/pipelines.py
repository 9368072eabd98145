"""Pipelines in the catalogue: create one, add versions (each change of stages), promote, roll back; and reads.

A version's stages are checked when it is written: each names a model of the catalogue, no model twice, none a
forecaster, every stage but the last names its output (``as``) with a name no other stage and no known feature
uses, and the last stage is supervised or an anomaly detector. Whether the stage models have a production version
is checked when the pipeline serves (serving.pipelines), since promoting and retiring them is their own lifecycle.
"""

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from catalogue.errors import Conflict, InvalidInput, NotFound
from catalogue.models import MLModel, ModelVersion
from catalogue.pipeline_models import Pipeline, PipelineDeployment, PipelineVersion
from catalogue.services import _clean_name

#: Each stage predicts on every request: a bound on what a pipeline's predict costs.
MAX_STAGES = 8
#: The flavors whose prediction a pipeline may answer with: supervised ones and anomaly scores.
LAST_FLAVORS = ("regression", "binary", "multiclass", "anomaly")
STAGE_KEYS = ("model", "as")
#: The flavors no stage may be, and why: a stage predicts one value per request, with the request's id.
UNCHAINABLE = {
    "forecasting": "it forecasts a horizon of the series (a list, without an id), not one value per request",
}


# --- stages ------------------------------------------------------------------------------------


def clean_stages(stages: Any) -> list[dict]:
    """The stages as stored (``[{"model": "a", "as": "a_score"}, {"model": "b"}]``), or an InvalidInput
    naming the stage (``stages[1].as``) and what to fix."""
    if not isinstance(stages, list) or not stages:
        raise InvalidInput(
            'stages must be a non-empty JSON list, like [{"model": "scorer", "as": "score"}, {"model": "classifier"}]',
            field="stages",
        )
    if len(stages) > MAX_STAGES:
        raise InvalidInput(f"a pipeline has at most {MAX_STAGES} stages; got {len(stages)}", field="stages")
    cleaned = []
    for index, stage in enumerate(stages):
        where = f"stages[{index}]"
        if not isinstance(stage, dict):
            raise InvalidInput(f'{where} must be a JSON object, like {{"model": "scorer", "as": "score"}}', field=where)
        unknown = sorted(set(stage) - set(STAGE_KEYS))
        if unknown:
            raise InvalidInput(
                f"{where} has unknown keys {unknown}; a stage has: model, as", field=f"{where}.{unknown[0]}"
            )
        name = stage.get("model")
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"{where}.model must be the name of a model of the catalogue", field=f"{where}.model")
        entry = {"model": name}
        output = stage.get("as")
        last = index == len(stages) - 1
        if output is None and not last:
            raise InvalidInput(
                f"{where}.as is required: the feature name under which the next stages see {name}'s output",
                field=f"{where}.as",
            )
        if output is not None:
            if not isinstance(output, str) or not 0 < len(output) <= 100 or output != output.strip():
                raise InvalidInput(
                    f"{where}.as must be a feature name of 1-100 characters without surrounding spaces",
                    field=f"{where}.as",
                )
            entry["as"] = output
        cleaned.append(entry)
    _check_models(cleaned)
    return cleaned


def _check_models(stages: list[dict]) -> None:
    names = [stage["model"] for stage in stages]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise InvalidInput(
                f"stages[{index}].model: {name} is already stage {names.index(name)}; a model serves one stage",
                field=f"stages[{index}].model",
            )
    models = {m.name: m for m in MLModel.objects.filter(name__in=names).only("pk", "name", "flavor")}
    for index, name in enumerate(names):
        if name not in models:
            raise InvalidInput(f"stages[{index}].model: no model named {name!r}", field=f"stages[{index}].model")
    for index, name in enumerate(names):
        if models[name].flavor in UNCHAINABLE:
            raise InvalidInput(
                f"stages[{index}].model: {name} is a {models[name].flavor} model: "
                f"{UNCHAINABLE[models[name].flavor]}; it cannot be a stage",
                field=f"stages[{index}].model",
            )
    last = models[names[-1]]
    if last.flavor not in LAST_FLAVORS:
        raise InvalidInput(
            f"the last stage answers the pipeline: it must be a {', '.join(LAST_FLAVORS)} model; "
            f"{last.name} is {last.flavor}",
            field=f"stages[{len(names) - 1}].model",
        )
    outputs = [stage.get("as") for stage in stages]
    known = known_features(model_ids=[m.pk for m in models.values()])
    for index, output in enumerate(outputs):
        if output is None:
            continue
        if output in outputs[:index]:
            raise InvalidInput(
                f"stages[{index}].as: {output!r} names another stage's output too", field=f"stages[{index}].as"
            )
        if output in known:
            raise InvalidInput(
                f"stages[{index}].as: {output!r} is a feature of the stage models' input examples; "
                "name the output otherwise",
                field=f"stages[{index}].as",
            )


def known_features(*, model_ids: list[int]) -> set[str]:
    """The feature names the stage models' versions were uploaded with (their input examples)."""
    names: set[str] = set()
    examples = ModelVersion.objects.filter(model_id__in=model_ids, input_example__isnull=False)
    for example in examples.values_list("input_example", flat=True):
        if isinstance(example, dict):
            names.update(example)
    return names


# --- writes ------------------------------------------------------------------------------------


def pipeline_create(*, name: str, stages: Any, description: str = "", message: str = "", owner=None) -> Pipeline:
    """A pipeline with its first version, in production at once (recorded as a promote)."""
    _clean_name(name)
    cleaned = clean_stages(stages)
    if Pipeline.objects.filter(name=name).exists():
        raise Conflict(f"a pipeline named {name!r} already exists", field="name")
    try:
        with transaction.atomic():
            pipeline = Pipeline.objects.create(name=name, description=description or "", owner=owner)
            version = _add_version(pipeline, cleaned, author=owner, message=message or "created")
            _switch(pipeline, version, PipelineDeployment.Action.PROMOTE, owner, "created")
    except IntegrityError:  # lost a race with a concurrent create of the same name
        raise Conflict(f"a pipeline named {name!r} already exists", field="name") from None
    pipeline.refresh_from_db()
    return pipeline


@transaction.atomic
def pipeline_version_create(*, pipeline: Pipeline, stages: Any, message: str = "", author=None) -> PipelineVersion:
    """The pipeline's next version with these stages (not in production until promoted)."""
    cleaned = clean_stages(stages)
    pipeline = _lock(pipeline)
    latest = pipeline.versions.order_by("-number").first()
    if latest is not None and latest.stages == cleaned:
        raise Conflict(f"{pipeline.name} v{latest.number} has these stages already", field="stages")
    return _add_version(pipeline, cleaned, author=author, message=message)


def _add_version(pipeline: Pipeline, stages: list[dict], *, author, message: str) -> PipelineVersion:
    Pipeline.objects.filter(pk=pipeline.pk).update(version_counter=F("version_counter") + 1)
    number = Pipeline.objects.values_list("version_counter", flat=True).get(pk=pipeline.pk)
    return PipelineVersion.objects.create(
        pipeline=pipeline, number=number, stages=stages, author=author, message=(message or "")[:500]
    )


@transaction.atomic
def pipeline_promote(*, version: PipelineVersion, user=None, note: str = "") -> PipelineDeployment:
    """Make ``version`` the pipeline's production version, atomically, and record it."""
    pipeline = _lock(version.pipeline)
    if pipeline.production_version_id == version.pk:
        raise Conflict(f"{pipeline.name} v{version.number} is already in production")
    return _switch(pipeline, version, PipelineDeployment.Action.PROMOTE, user, note)


def rollback_target(*, pipeline: Pipeline) -> PipelineVersion | None:
    """The version in production before the current one, replaying the history as a stack."""
    stack: list[int] = []
    for deployment in pipeline.deployments.order_by("created_at", "id"):
        if deployment.action == PipelineDeployment.Action.PROMOTE:
            stack.append(deployment.to_version_id)
        elif stack:
            stack.pop()
    candidates = [pk for pk in stack[:-1] if pk != pipeline.production_version_id]
    return pipeline.versions.get(pk=candidates[-1]) if candidates else None


def rollback_check(*, pipeline: Pipeline) -> PipelineVersion:
    """The version a rollback returns to, or the Conflict that says there is none."""
    target = rollback_target(pipeline=pipeline)
    if target is None:
        raise Conflict(f"{pipeline.name} has no earlier production version to roll back to")
    return target


@transaction.atomic
def pipeline_rollback(*, pipeline: Pipeline, user=None, note: str = "") -> PipelineDeployment:
    """Return to the previous production version of the pipeline, atomically, and record it."""
    pipeline = _lock(pipeline)
    target = rollback_check(pipeline=pipeline)
    return _switch(pipeline, target, PipelineDeployment.Action.ROLLBACK, user, note)


@transaction.atomic
def pipeline_delete(*, pipeline: Pipeline) -> None:
    """Delete a pipeline with its versions and history. Its stage models, their logs and states stay; the stages'
    pending predictions made through it expire like any other."""
    # production_version points into the versions about to go: clear it so the cascade has no cycle.
    Pipeline.objects.filter(pk=pipeline.pk).update(production_version=None)
    pipeline.delete()


def _lock(pipeline: Pipeline) -> Pipeline:
    return Pipeline.objects.select_for_update().get(pk=pipeline.pk)


def _switch(pipeline: Pipeline, to: PipelineVersion, action: str, user, note: str) -> PipelineDeployment:
    previous = pipeline.production_version_id
    Pipeline.objects.filter(pk=pipeline.pk).update(production_version=to, updated_at=timezone.now())
    return PipelineDeployment.objects.create(
        pipeline=pipeline, action=action, from_version_id=previous, to_version=to, user=user, note=(note or "")[:500]
    )


# --- reads -------------------------------------------------------------------------------------


def pipeline_list() -> QuerySet[Pipeline]:
    return Pipeline.objects.select_related("production_version", "owner").order_by("name")


def pipeline_get(*, name: str) -> Pipeline | None:
    return Pipeline.objects.select_related("production_version", "owner").filter(name=name).first()


def pipeline_versions(*, pipeline: Pipeline) -> QuerySet[PipelineVersion]:
    return pipeline.versions.select_related("author").order_by("-number")


def pipeline_history(*, pipeline: Pipeline) -> QuerySet[PipelineDeployment]:
    return pipeline.deployments.select_related("from_version", "to_version", "user")


def get_pipeline_or_404(name: str) -> Pipeline:
    pipeline = pipeline_get(name=name)
    if pipeline is None:
        raise NotFound(f"no pipeline named {name!r}")
    return pipeline


def get_pipeline_version_or_404(pipeline: Pipeline, number: Any) -> PipelineVersion:
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise InvalidInput(f"a version number is a whole number, not {number!r}", field="version") from None
    version = pipeline.versions.filter(number=number).first()
    if version is None:
        raise NotFound(f"pipeline {pipeline.name} has no version {number}")
    return version
