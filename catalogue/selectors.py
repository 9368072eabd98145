"""Reads of the catalogue. A selector returns None for a missing object; the interface decides it is a 404."""

from django.db.models import OuterRef, QuerySet, Subquery

from catalogue.models import Challenger, Deployment, Location, MLModel, ModelVersion


def model_list() -> QuerySet[MLModel]:
    return MLModel.objects.with_production().order_by("name")


def model_get(*, name: str) -> MLModel | None:
    return MLModel.objects.with_production().filter(name=name).first()


def version_list(*, model: MLModel) -> QuerySet[ModelVersion]:
    # A version's dataset without its bytes (up to RHYTHMIC_MAX_DATASET_BYTES each).
    versions = model.versions.without_artifact().select_related("author", "parent", "dataset")
    return versions.defer("dataset__content").order_by("-number")


def version_get(*, model: MLModel, number: int, with_artifact: bool = False) -> ModelVersion | None:
    versions = model.versions.select_related("author", "parent", "model", "dataset").defer("dataset__content")
    if not with_artifact:
        versions = versions.defer("artifact")
    return versions.filter(number=number).first()


def deployment_list(*, model: MLModel) -> QuerySet[Deployment]:
    return model.deployments.select_related("from_version", "to_version", "user")


def challenger_list(*, model: MLModel) -> QuerySet[Challenger]:
    """The model's challengers in the order they were added, with their versions (without the bytes)."""
    return (
        Challenger.objects.filter(model_id=model.pk)
        .select_related("model", "version", "added_by")
        .defer("version__artifact", "model__metadata")
        .order_by("added_at", "id")
    )


def canary_version(*, model: MLModel) -> ModelVersion | None:
    """The model's canary version (without its bytes), if it has one."""
    if model.canary_version_id is None:
        return None
    return ModelVersion.objects.without_artifact().filter(pk=model.canary_version_id).first()


def location_list() -> QuerySet[Location]:
    return Location.objects.all()


def location_get(*, name: str) -> Location | None:
    return Location.objects.filter(name=name).first()


def location_default() -> Location | None:
    return Location.objects.filter(is_default=True).first()


# --- for the REST API's model listings (read-only helpers) -------------------------------------


def model_list_with_latest() -> QuerySet[MLModel]:
    """Models with their production version (without its bytes) and their latest version's number and status."""
    latest = ModelVersion.objects.filter(model=OuterRef("pk")).order_by("-number")
    return (
        model_list()
        .defer("production_version__artifact")
        .annotate(
            latest_version_number=Subquery(latest.values("number")[:1]),
            latest_version_status=Subquery(latest.values("status")[:1]),
        )
    )


def model_get_with_latest(*, name: str) -> MLModel | None:
    return model_list_with_latest().filter(name=name).first()
