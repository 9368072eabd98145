"""Writes to the catalogue: models, versions, validation, promotion, rollback, retirement, locations.

Every interface (REST, admin, CLI, web UI) calls these; none writes catalogue rows itself.
"""

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from catalogue import artifacts, selectors, signals
from catalogue.errors import Conflict, InvalidInput, NotFound, TooLarge
from catalogue.flavors import FLAVORS, clean_options, get_flavor
from catalogue.models import Challenger, Dataset, Deployment, Location, MLModel, ModelVersion

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


# --- cleaning helpers shared by every write ------------------------------------------------------


def _clean_name(name: Any, *, what: str = "name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(
            f"{what} must be 1-100 lowercase letters, digits, '-' or '_', starting with a letter or digit; "
            f"got {name!r}",
            field=what,
        )
    return name


def _clean_metadata(metadata: Any) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise InvalidInput('metadata must be a JSON object of strings, like {"team": "fraud"}', field="metadata")
    return metadata


def clean_flavor(flavor: Any) -> str:
    """``flavor`` if it names a flavor; anything else (a list, a number...) is an InvalidInput."""
    if not isinstance(flavor, str) or flavor not in FLAVORS:
        raise InvalidInput(f"flavor must be one of: {', '.join(FLAVORS)}; got {flavor!r}", field="flavor")
    return flavor


def _clean_location(location: Location | str | None) -> Location | None:
    if location is None or isinstance(location, Location):
        return location
    found = selectors.location_get(name=location)
    if found is None:
        raise InvalidInput(f"no location named {location!r}", field="location")
    return found


# --- locations ---------------------------------------------------------------------------------


@transaction.atomic
def location_create(*, name: str, description: str = "", is_default: bool = False) -> Location:
    _clean_name(name)
    if Location.objects.filter(name=name).exists():
        raise Conflict(f"a location named {name!r} already exists", field="name")
    location = Location.objects.create(name=name, description=description)
    if is_default:
        location_set_default(location=location)
    return location


@transaction.atomic
def location_set_default(*, location: Location) -> Location:
    Location.objects.filter(is_default=True).exclude(pk=location.pk).update(is_default=False)
    Location.objects.filter(pk=location.pk).update(is_default=True)
    location.is_default = True
    return location


# --- models ------------------------------------------------------------------------------------


@transaction.atomic
def model_create(
    *,
    name: str,
    flavor: str,
    description: str = "",
    metadata: dict[str, str] | None = None,
    location: Location | str | None = None,
    owner=None,
    options: Any = None,
) -> MLModel:
    _clean_name(name)
    clean_flavor(flavor)
    try:
        options = clean_options(get_flavor(flavor), options)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="options") from None
    metadata = _clean_metadata(metadata)
    location = _clean_location(location) or selectors.location_default()
    if MLModel.objects.filter(name=name).exists():
        raise Conflict(f"a model named {name!r} already exists", field="name")
    try:
        with transaction.atomic():
            return MLModel.objects.create(
                name=name,
                flavor=flavor,
                description=description or "",
                metadata=metadata,
                options=options,
                location=location,
                owner=owner,
            )
    except IntegrityError:  # lost a race with a concurrent create of the same name
        raise Conflict(f"a model named {name!r} already exists", field="name") from None


_UNSET = object()


@transaction.atomic
def model_update(
    *, model: MLModel, description: Any = _UNSET, metadata: Any = _UNSET, location: Any = _UNSET
) -> MLModel:
    fields = ["updated_at"]
    if description is not _UNSET:
        if not isinstance(description, str):
            raise InvalidInput("description must be a string", field="description")
        model.description = description
        fields.append("description")
    if metadata is not _UNSET:
        model.metadata = _clean_metadata(metadata)
        fields.append("metadata")
    if location is not _UNSET:
        target = _clean_location(location)
        if model.production_version_id is not None and getattr(target, "pk", None) != model.location_id:
            # Moving a live model is a deploy: the new location's instances pre-load it before it switches.
            number = ModelVersion.objects.filter(pk=model.production_version_id).values_list("number", flat=True)[0]
            raise Conflict(
                f"{model.name} is in production (v{number}): move it with a deploy, "
                f'POST /api/v1/models/{model.name}/versions/{number}/deploy {{"location": ...}}, '
                "so the new location's servers load it before it switches",
                code="move_by_deploy",
                field="location",
            )
        model.location = target
        fields.append("location")
    model.save(update_fields=fields)
    return model


@transaction.atomic
def model_delete(*, model: MLModel) -> None:
    """Delete a model with all its versions, history and learned state."""
    # production_version points into the versions about to go: clear it so the cascade has no cycle.
    MLModel.objects.filter(pk=model.pk).update(production_version=None, canary_version=None)
    model.delete()


# --- versions ----------------------------------------------------------------------------------


def _clean_artifact(data: Any, fmt: str | None) -> str:
    """The artifact's format (guessed when ``fmt`` is None), once the bytes are known to be storable."""
    if not data:
        raise InvalidInput("the artifact is empty: send the serialized model as the request body or file")
    limit = settings.RHYTHMIC_MAX_ARTIFACT_BYTES
    if len(data) > limit:
        raise TooLarge(f"the artifact is {len(data)} bytes; the limit is {limit} (RHYTHMIC_MAX_ARTIFACT_BYTES)")
    fmt = fmt or artifacts.guess_format(data)
    if fmt not in artifacts.FORMATS:
        raise InvalidInput(f"format must be one of: {', '.join(artifacts.FORMATS)}; got {fmt!r}", field="format")
    return fmt


@dataclass(frozen=True)
class Upload:
    """What ``model_version_upload`` did: the version, and whether the model and the version are new."""

    model: MLModel
    version: ModelVersion
    model_created: bool
    version_created: bool


@transaction.atomic
def model_version_upload(
    *,
    name: str,
    data: bytes,
    flavor: str | None = None,
    create: bool = False,
    model_description: str = "",
    model_metadata: dict[str, str] | None = None,
    model_options: Any = None,
    location: Location | str | None = None,
    fmt: str | None = None,
    requirements: str = "",
    message: str = "",
    description: str = "",
    metadata: dict[str, str] | None = None,
    input_example: Any = None,
    author=None,
    parent: ModelVersion | None = None,
    validate: bool = True,
) -> Upload:
    """Register ``data`` as the next version of model ``name``: the one upload of every interface.

    REST, the upload page, the admin, ``add_model``, deploy configs and chantilly's ``/api/model`` all call it,
    so a bad artifact or a flavor mismatch is refused with the same error, and every upload is validated and
    logged alike. ``flavor``, when given, must be the model's; with ``create`` a missing model is created
    (``flavor`` then required; ``model_description``, ``model_metadata``, ``model_options`` and ``location`` are
    used only then).
    A refusal, also the version's, leaves no model behind: all of it is one transaction.
    """
    _clean_artifact(data, fmt)  # first: a bad artifact is the same error whether or not the model exists
    model = selectors.model_get(name=name) if isinstance(name, str) else None
    model_created = model is None
    if model is None:
        if not create:
            raise NotFound(f"no model named {name!r}")
        if flavor is None:
            raise InvalidInput(
                f"there is no model named {name!r} yet; give its flavor ({', '.join(FLAVORS)}) to create it",
                field="flavor",
            )
        model = model_create(
            name=name,
            flavor=flavor,
            description=model_description,
            metadata=model_metadata,
            location=location,
            owner=author,
            options=model_options,
        )
    elif flavor is not None and flavor != model.flavor:
        raise Conflict(f"model {model.name} is a {model.flavor} model, not {flavor}", field="flavor")
    version, version_created = model_version_register(
        model=model,
        data=data,
        fmt=fmt,
        requirements=requirements,
        message=message,
        description=description,
        metadata=metadata,
        input_example=input_example,
        author=author,
        parent=parent,
        validate=validate,
    )
    if version_created:
        logger.info(
            "registered %s v%d (%s, %d bytes, sha256 %s) by %s%s",
            model.name,
            version.number,
            version.format,
            version.size,
            version.sha256[:12],
            getattr(author, "username", None) or "nobody",
            " in a new model" if model_created else "",
        )
    else:
        logger.info("%s v%d uploaded again (same sha256): nothing stored", model.name, version.number)
    return Upload(model=model, version=version, model_created=model_created, version_created=version_created)


def model_version_register(
    *,
    model: MLModel,
    data: bytes,
    fmt: str | None = None,
    requirements: str = "",
    message: str = "",
    description: str = "",
    metadata: dict[str, str] | None = None,
    input_example: Any = None,
    author=None,
    parent: ModelVersion | None = None,
    validate: bool = True,
    dataset: Dataset | None = None,
    params: dict | None = None,
    training_metrics: dict | None = None,
) -> tuple[ModelVersion, bool]:
    """Store ``data`` as the model's next version and queue its validation (interfaces call model_version_upload).

    A training job (serving.training) also records the ``dataset`` it learned, its ``params`` and its
    ``training_metrics``. Returns ``(version, created)``: the same bytes uploaded again give back the existing
    version.
    """
    fmt = _clean_artifact(data, fmt)
    if not isinstance(requirements, str):
        raise InvalidInput("requirements must be text in requirements.txt form", field="requirements")
    if input_example is not None and not isinstance(input_example, dict):
        raise InvalidInput('input_example must be a JSON object of features, like {"x": 1.5}', field="input_example")
    metadata = _clean_metadata(metadata)
    if len(message) > 500:
        raise InvalidInput("message must be at most 500 characters", field="message")
    digest = artifacts.sha256_of(data)

    with transaction.atomic():
        existing = model.versions.without_artifact().filter(sha256=digest).first()
        if existing is not None:
            return existing, False
        # The row lock taken by this UPDATE is held until commit: concurrent uploads to one model queue
        # here, so each reads a distinct number.
        MLModel.objects.filter(pk=model.pk).update(version_counter=F("version_counter") + 1)
        number = MLModel.objects.values_list("version_counter", flat=True).get(pk=model.pk)
        version = ModelVersion.objects.create(
            model=model,
            number=number,
            artifact=data,
            format=fmt,
            sha256=digest,
            size=len(data),
            requirements=requirements,
            message=message,
            description=description,
            metadata=metadata,
            input_example=input_example,
            author=author,
            parent=parent,
            dataset=dataset,
            params=params or {},
            training_metrics=training_metrics or {},
        )
        if validate:
            transaction.on_commit(lambda: _queue_validation(version.pk))
    return version, True


def _queue_validation(version_id: int) -> None:
    from catalogue.tasks import validate_version

    validate_version.delay(version_id)


@transaction.atomic
def model_version_revalidate(*, version: ModelVersion) -> ModelVersion:
    if version.status == ModelVersion.Status.RETIRED:
        raise Conflict(f"{version} is retired; it cannot be validated again")
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.PENDING)
    version.status = ModelVersion.Status.PENDING
    transaction.on_commit(lambda: _queue_validation(version.pk))
    return version


def model_version_validate(*, version_id: int) -> ModelVersion | None:
    """Run every validation check and record the report: ready or failed with reasons."""
    from catalogue.validation import run_checks

    updated = ModelVersion.objects.filter(
        pk=version_id, status__in=[ModelVersion.Status.PENDING, ModelVersion.Status.FAILED]
    ).update(status=ModelVersion.Status.VALIDATING)
    if not updated:  # deleted, retired, or already taken by another worker
        return ModelVersion.objects.without_artifact().filter(pk=version_id).first()
    version = ModelVersion.objects.select_related("model").get(pk=version_id)
    report = run_checks(version)
    version.status = ModelVersion.Status.READY if report["ok"] else ModelVersion.Status.FAILED
    version.validation_report = report
    version.validated_at = timezone.now()
    version.save(update_fields=["status", "validation_report", "validated_at"])
    logger.info("validated %s: %s", version, version.status)
    # After commit: a caller validating inside its own transaction (chantilly's upload) may still roll back.
    _after_commit(signals.version_validated, version=version)
    return version


# --- deployments -------------------------------------------------------------------------------


def model_version_mark_non_finite(*, version_id: int, seq: int) -> bool:
    """Record that the version's live state predicted a non-finite number at learn-log ``seq``.

    Only the first report counts (every process, and every restart, may report it again); True for that one."""
    updated = ModelVersion.objects.filter(pk=version_id, non_finite_seq__isnull=True).update(
        non_finite_seq=seq, non_finite_at=timezone.now()
    )
    return updated == 1


def _lock(model: MLModel) -> MLModel:
    return MLModel.objects.select_for_update().get(pk=model.pk)


_KEEP = object()


@transaction.atomic
def deployment_promote(
    *,
    version: ModelVersion,
    user=None,
    note: str = "",
    automatic: bool = False,
    reason: dict | None = None,
    location: Any = _KEEP,
) -> Deployment:
    """Make ``version`` the model's production version, atomically, and record it (``automatic`` with its
    ``reason`` when a promotion policy decided it). With ``location`` (a Location or None), the model moves there
    in the same transaction: a move of the version already in production is a deployment too."""
    model = _lock(version.model)
    version = ModelVersion.objects.without_artifact().get(pk=version.pk)
    if version.status != ModelVersion.Status.READY:
        raise Conflict(f"only ready versions can be promoted; {model.name} v{version.number} is {version.status}")
    moving = location is not _KEEP and getattr(location, "pk", None) != model.location_id
    if model.production_version_id == version.pk and not moving:
        raise Conflict(f"{model.name} v{version.number} is already in production")
    if moving:
        MLModel.objects.filter(pk=model.pk).update(location=location)
    return _switch(model, version, Deployment.Action.PROMOTE, user, note, automatic=automatic, reason=reason)


class Deployer(Protocol):
    def __call__(self, *, version: ModelVersion, user, note: str) -> Deployment | None: ...


_deployer: Deployer | None = None


def register_deployer(deployer: Deployer | None) -> None:
    """The serving core registers its deploy task here (at app ready): a person's promote goes through it."""
    global _deployer
    _deployer = deployer


def deployment_deploy(*, version: ModelVersion, user=None, note: str = "") -> Deployment | None:
    """A person's promote, as the CLI, the admin and deploy files ask it: through the registered deployer (the
    serving core's deploy task: every live instance of the model's location pre-loads the version first, then
    production switches), else straight through ``deployment_promote``. The Deployment once switched; None
    while a worker still runs the deploy; a Conflict that says why when the deploy failed."""
    if _deployer is None:
        return deployment_promote(version=version, user=user, note=note)
    return _deployer(version=version, user=user, note=note)


def _switch(
    model: MLModel,
    to: ModelVersion | None,
    action: str,
    user,
    note: str,
    *,
    automatic: bool = False,
    reason: dict | None = None,
) -> Deployment:
    previous = model.production_version
    if to is not None:
        # A challenger or the canary that goes to production keeps its live state: it is the same replica.
        _leave_lifecycle(model, to.pk)
    MLModel.objects.filter(pk=model.pk).update(production_version=to, updated_at=timezone.now())
    deployment = Deployment.objects.create(
        model=model,
        action=action,
        from_version=previous,
        to_version=to,
        user=user,
        note=note[:500],
        automatic=automatic,
        reason=reason or {},
    )
    _after_commit(signals.deployment_changed, deployment=deployment)
    return deployment


def _after_commit(signal, **kwargs) -> None:
    transaction.on_commit(lambda: signal.send(sender=MLModel, **kwargs))


def rollback_target(*, model: MLModel) -> ModelVersion | None:
    """The version that was in production before the current one, replaying history as a stack."""
    stack: list[int] = []
    for deployment in model.deployments.order_by("created_at", "id"):
        if deployment.action == Deployment.Action.PROMOTE:
            stack.append(deployment.to_version_id)
        elif deployment.action == Deployment.Action.ROLLBACK and stack:
            stack.pop()
        elif deployment.action == Deployment.Action.RETIRE:
            stack = [pk for pk in stack if pk != deployment.from_version_id]
    ready = set(model.versions.ready().values_list("pk", flat=True))
    candidates = [pk for pk in stack[:-1] if pk in ready and pk != model.production_version_id]
    return model.versions.without_artifact().get(pk=candidates[-1]) if candidates else None


def rollback_check(*, model: MLModel) -> ModelVersion:
    """The version a rollback of ``model`` returns to, or the Conflict that ``deployment_rollback`` would raise.

    Pages call it to ask before they act (the rollback itself checks again, under the model's lock).
    """
    if model.production_version_id is None:
        raise Conflict(f"{model.name} has no production version to roll back from")
    target = rollback_target(model=model)
    if target is None:
        raise Conflict(f"{model.name} has no earlier ready production version to roll back to")
    return target


@transaction.atomic
def deployment_rollback(
    *, model: MLModel, user=None, note: str = "", automatic: bool = False, reason: dict | None = None
) -> Deployment:
    """Return to the previous production version (``automatic`` with its ``reason``: see deployment_promote)."""
    model = _lock(model)
    target = rollback_check(model=model)
    return _switch(model, target, Deployment.Action.ROLLBACK, user, note, automatic=automatic, reason=reason)


@transaction.atomic
def version_retire(*, version: ModelVersion, user=None, note: str = "") -> ModelVersion:
    """Retire a version: it can no longer be promoted; if it was in production, the model has none."""
    model = _lock(version.model)
    if version.status == ModelVersion.Status.RETIRED:
        raise Conflict(f"{model.name} v{version.number} is already retired")
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.RETIRED)
    version.status = ModelVersion.Status.RETIRED
    _leave_lifecycle(model, version.pk)
    if model.production_version_id == version.pk:
        _switch(model, None, Deployment.Action.RETIRE, user, note)
    else:
        deployment = Deployment.objects.create(
            model=model, action=Deployment.Action.RETIRE, from_version=version, to_version=None, user=user, note=note
        )
        _after_commit(signals.deployment_changed, deployment=deployment)
    return version


# --- challengers and the canary ----------------------------------------------------------------
#
# Challenger rows are the record; MLModel.challenger_ids, canary_version and canary_percent repeat them in the
# row the serving core reads for every request (log.read_head), written in the same transaction.

MAX_CHALLENGERS = 8  # each one predicts on every request: a bound on what a predict costs


def _refresh_challengers(model: MLModel) -> None:
    ids = list(
        Challenger.objects.filter(model_id=model.pk).order_by("added_at", "id").values_list("version_id", flat=True)
    )
    MLModel.objects.filter(pk=model.pk).update(challenger_ids=json.dumps(ids), updated_at=timezone.now())


def _leave_lifecycle(model: MLModel, version_id: int) -> None:
    """A version going to production or retired stops being a challenger or the canary."""
    if Challenger.objects.filter(model_id=model.pk, version_id=version_id).delete()[0]:
        _refresh_challengers(model)
    MLModel.objects.filter(pk=model.pk, canary_version_id=version_id).update(canary_version=None, canary_percent=0)


def _record(model: MLModel, action: str, *, user, note: str = "", from_version=None, to_version=None) -> Deployment:
    deployment = Deployment.objects.create(
        model=model, action=action, from_version=from_version, to_version=to_version, user=user, note=note[:500]
    )
    _after_commit(signals.deployment_changed, deployment=deployment)
    return deployment


def _check_candidate(model: MLModel, version: ModelVersion, what: str) -> ModelVersion:
    """The version, read again under the model's lock, if it may learn beside production as ``what``."""
    version = ModelVersion.objects.without_artifact().get(pk=version.pk)
    label = f"{model.name} v{version.number}"
    if version.status != ModelVersion.Status.READY:
        raise Conflict(f"only ready versions can be {what}; {label} is {version.status}", field="version")
    if model.production_version_id is None:
        raise Conflict(f"{model.name} has no production version: promote one before adding a {what}")
    if model.production_version_id == version.pk:
        raise Conflict(f"{label} is in production; it cannot also be {what}", field="version")
    return version


@transaction.atomic
def challenger_add(*, version: ModelVersion, user=None, note: str = "") -> Challenger:
    """Make a ready version a challenger: it predicts and learns every event beside production, never answers."""
    model = _lock(version.model)
    version = _check_candidate(model, version, "a challenger")
    label = f"{model.name} v{version.number}"
    if Challenger.objects.filter(model=model, version=version).exists():
        raise Conflict(f"{label} is already a challenger", field="version")
    if model.canary_version_id == version.pk:
        raise Conflict(f"{label} is the canary (it learns every event already); end the canary first", field="version")
    if Challenger.objects.filter(model=model).count() >= MAX_CHALLENGERS:
        raise Conflict(f"{model.name} has {MAX_CHALLENGERS} challengers, the most it may have: remove one first")
    challenger = Challenger.objects.create(model=model, version=version, added_by=user)
    _refresh_challengers(model)
    _record(model, Deployment.Action.ADD_CHALLENGER, user=user, note=note, to_version=version)
    return challenger


@transaction.atomic
def challenger_remove(*, version: ModelVersion, user=None, note: str = "") -> None:
    """Stop a challenger: it no longer predicts or learns (its learned state so far stays in its checkpoints)."""
    model = _lock(version.model)
    if not Challenger.objects.filter(model=model, version_id=version.pk).delete()[0]:
        raise NotFound(f"{model.name} v{version.number} is not a challenger")
    _refresh_challengers(model)
    _record(model, Deployment.Action.REMOVE_CHALLENGER, user=user, note=note, from_version=version)


def clean_percent(percent: Any) -> float:
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 < percent <= 100:
        raise InvalidInput(f"percent must be a number above 0 and at most 100; got {percent!r}", field="percent")
    return float(percent)


@transaction.atomic
def canary_set(*, version: ModelVersion, percent: Any, user=None, note: str = "") -> MLModel:
    """Send ``percent`` % of predictions to ``version`` (sticky by id); it learns every event, as production.

    Setting it again changes the share or the version; a challenger made the canary stops being a challenger."""
    percent = clean_percent(percent)
    model = _lock(version.model)
    version = _check_candidate(model, version, "the canary")
    if Challenger.objects.filter(model=model, version=version).delete()[0]:
        _refresh_challengers(model)
    MLModel.objects.filter(pk=model.pk).update(
        canary_version=version, canary_percent=percent, updated_at=timezone.now()
    )
    _record(
        model, Deployment.Action.SET_CANARY, user=user, note=note or f"{percent:g}% of predictions", to_version=version
    )
    model.canary_version, model.canary_percent = version, percent
    return model


@transaction.atomic
def canary_end(*, model: MLModel, user=None, note: str = "") -> None:
    """Send every prediction to production again; the canary version stops learning."""
    model = _lock(model)
    if model.canary_version_id is None:
        raise NotFound(f"{model.name} has no canary")
    previous = model.canary_version
    MLModel.objects.filter(pk=model.pk).update(canary_version=None, canary_percent=0, updated_at=timezone.now())
    _record(model, Deployment.Action.END_CANARY, user=user, note=note, from_version=previous)


def get_model_or_404(name: str) -> MLModel:
    model = selectors.model_get(name=name)
    if model is None:
        raise NotFound(f"no model named {name!r}")
    return model


def get_version_or_404(model: MLModel, number: Any, *, with_artifact: bool = False) -> ModelVersion:
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise InvalidInput(f"a version number is a whole number, not {number!r}", field="version") from None
    version = selectors.version_get(model=model, number=number, with_artifact=with_artifact)
    if version is None:
        raise NotFound(f"{model.name} has no version {number}")
    return version
