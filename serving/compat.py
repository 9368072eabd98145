"""chantilly's workspace on top of the catalogue: one flavor, a default model, uploads that go live at once.

chantilly's ``init`` erases everything. Here starting afresh archives the workspace's models instead
(production version retired, name suffixed, learn log and versions kept), so nothing is ever destroyed.
"""

import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from catalogue import services
from catalogue.errors import Conflict, InvalidInput, NotFound
from catalogue.flavors import CHANTILLY_FLAVORS
from catalogue.models import CompatWorkspace, MLModel, ModelVersion
from serving import log
from serving.process import current


def workspace() -> CompatWorkspace:
    return CompatWorkspace.objects.select_related("default_model").get_or_create(pk=1)[0]


def flavor() -> str:
    current = workspace().flavor
    if not current:
        raise InvalidInput('no flavor is set: POST /api/init with {"flavor": "regression"} first', code="no_flavor")
    return current


@transaction.atomic
def init(*, flavor_name: Any) -> CompatWorkspace:
    """Set the flavor and start afresh: archive the workspace's models, forget the default."""
    flavor_name = services.clean_flavor(flavor_name)
    if flavor_name not in CHANTILLY_FLAVORS:
        raise InvalidInput(
            f"chantilly's routes serve {', '.join(CHANTILLY_FLAVORS)} models; create a {flavor_name} model with "
            "POST /api/v1/models/ and use /api/v1/models/<name>/predict and /learn",
            field="flavor",
        )
    space = CompatWorkspace.objects.select_for_update().get_or_create(pk=1)[0]
    for model in list(space.members.all()):
        _archive(model)
    space.members.clear()
    space.flavor = flavor_name
    space.default_model = None
    space.save()
    return space


def _archive(model: MLModel) -> None:
    """Take a model out of the workspace for good: retire what is live, free its name, drop its pending ids."""
    old_name = model.name
    if model.production_version_id:
        services.version_retire(version=model.production_version, note="chantilly workspace started afresh")
    suffix = f"--archived-{timezone.now():%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
    MLModel.objects.filter(pk=model.pk).update(name=f"{old_name[: 100 - len(suffix)]}{suffix}")
    model.pending_predictions.all().delete()
    process = current()
    process.forget_timings(model=old_name)
    transaction.on_commit(lambda: process.forget(old_name))


def _member(name: str) -> MLModel:
    model = workspace().members.filter(name=name).first()
    if model is None:
        raise NotFound(f"no model named {name!r}: upload one with POST /api/model/{name}")
    return model


def resolve(name: Any = None) -> str:
    """The model a chantilly request means: the named one, else the default."""
    if name is not None:
        if not isinstance(name, str):
            raise InvalidInput("model must be a model name (a string)", field="model")
        return _member(name).name
    default = workspace().default_model
    if default is None:
        raise NotFound("no model has been uploaded yet: POST the dill bytes of a model to /api/model")
    return default.name


def resolve_for_id(prediction_id: Any) -> str | None:
    """The workspace model that made the pending prediction ``prediction_id``, if any."""
    key = log.pending_key(prediction_id)
    member = (
        workspace()
        .members.filter(pending_predictions__key=key)
        .order_by("-pending_predictions__created_at")
        .values_list("name", flat=True)
        .first()
    )
    return member


@transaction.atomic
def upload(*, data: bytes, name: str | None = None, user=None) -> MLModel:
    """Register ``data`` as the model's next version, validate it now, promote it and make it the default.

    The same services as every upload (model_version_upload, then the validation the worker would run), so
    the same refusals, report, log line and live event; only the validation runs before the answer, because chantilly's
    clients expect the model live when the POST returns. A refused model rolls everything back.
    """
    space = CompatWorkspace.objects.select_for_update().get_or_create(pk=1)[0]
    if not space.flavor:
        raise InvalidInput('no flavor is set: POST /api/init with {"flavor": "regression"} first', code="no_flavor")
    uploaded = services.model_version_upload(
        name=name or f"model-{secrets.token_hex(4)}",
        data=data,
        flavor=space.flavor,
        create=True,
        message="uploaded through /api/model",
        author=user,
        validate=False,
    )
    model, version, name = uploaded.model, uploaded.version, uploaded.model.name
    if version.status in (ModelVersion.Status.PENDING, ModelVersion.Status.FAILED):
        version = services.model_version_validate(version_id=version.pk)
    if version.status == ModelVersion.Status.FAILED:
        raise InvalidInput(f"the model was refused: {version.validation_report['summary']}", code="invalid_model")
    if version.status != ModelVersion.Status.READY:
        raise Conflict(f"these bytes are {name} v{version.number}, which is {version.status}; it cannot go live")
    live = MLModel.objects.values_list("production_version_id", flat=True).get(pk=model.pk)
    if live != version.pk:
        services.deployment_promote(version=version, user=user, note="uploaded through /api/model")
    space.members.add(model)
    space.default_model = model
    space.save(update_fields=["default_model", "updated_at"])
    return model


@transaction.atomic
def remove(*, name: str) -> None:
    """Delete a model from the workspace (archived, never destroyed); the default moves to the newest other."""
    space = CompatWorkspace.objects.select_for_update().get_or_create(pk=1)[0]
    model = _member(name)
    space.members.remove(model)
    _archive(model)
    if space.default_model_id == model.pk:
        space.default_model = space.members.order_by("-production_version__created_at", "-pk").first()
        space.save(update_fields=["default_model", "updated_at"])


def names() -> dict:
    space = workspace()
    return {
        "models": sorted(space.members.values_list("name", flat=True)),
        "default": space.default_model.name if space.default_model else None,
    }
