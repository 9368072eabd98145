"""REST views for predict and learn under /api/v1/models/{name}/: thin calls into the serving core."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

import serving
from api import schemas
from api.permissions import CanInfer
from catalogue import services
from catalogue.errors import InvalidInput


class CanUpload(BasePermission):
    message = "creating a version needs the catalogue.add_modelversion permission"

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.has_perm("catalogue.add_modelversion"))


def json_object(request) -> dict:
    """The request's JSON body, which must be an object."""
    data = request.data
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


def json_list(request) -> Any:
    """The body of a batch route: a JSON list, or an object with an ``items`` list."""
    data = request.data
    return data.get("items") if isinstance(data, dict) else data


INFERENCE_PERMISSIONS = [CanInfer]


@extend_schema(
    summary="Predict one example with the production version",
    request=schemas.PREDICT_REQUEST,
    responses={200: schemas.PREDICTION, **schemas.ERRORS},
    tags=["inference"],
)
@api_view(["POST"])
@permission_classes(INFERENCE_PERMISSIONS)
def predict(request, name: str) -> Response:
    body = json_object(request)
    result = serving.predict(model=name, features=body.get("features"), id=body.get("id"), horizon=body.get("horizon"))
    return Response(result.as_dict())


@extend_schema(
    summary="A recommendation model's items for a user, best first",
    request=schemas.RANK_REQUEST,
    responses={200: schemas.RANKING, **schemas.ERRORS},
    tags=["inference"],
)
@api_view(["POST"])
@permission_classes(INFERENCE_PERMISSIONS)
def rank(request, name: str) -> Response:
    body = json_object(request)
    result = serving.rank(model=name, user=body.get("user"), items=body.get("items"), context=body.get("context"))
    return Response(result.as_dict())


@extend_schema(
    summary="Learn one ground truth (by prediction id, or with features)",
    request=schemas.LEARN_REQUEST,
    responses={201: schemas.LEARNED, **schemas.ERRORS},
    tags=["inference"],
)
@api_view(["POST"])
@permission_classes(INFERENCE_PERMISSIONS)
def learn(request, name: str) -> Response:
    body = json_object(request)
    result = serving.learn(
        model=name, ground_truth=body.get("ground_truth"), id=body.get("id"), features=body.get("features")
    )
    return Response(result.as_dict(), status=status.HTTP_201_CREATED)


@extend_schema(
    summary="Predict a list of examples; one result (or error) per item",
    request={"application/json": {"type": "array", "items": {"type": "object"}}},
    responses={200: schemas.BATCH_RESULTS, **schemas.ERRORS},
    tags=["inference"],
)
@api_view(["POST"])
@permission_classes(INFERENCE_PERMISSIONS)
def predict_many(request, name: str) -> Response:
    return Response({"results": serving.predict_many(model=name, items=json_list(request))})


@extend_schema(
    summary="Learn a list of ground truths in one transaction; one result per item",
    request={"application/json": {"type": "array", "items": {"type": "object"}}},
    responses={200: schemas.BATCH_RESULTS, **schemas.ERRORS},
    tags=["inference"],
)
@api_view(["POST"])
@permission_classes(INFERENCE_PERMISSIONS)
def learn_many(request, name: str) -> Response:
    return Response({"results": serving.learn_many(model=name, items=json_list(request))})


def _version_param(request) -> int | None:
    raw = request.query_params.get("version")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"version must be a whole number, not {raw!r}", field="version") from None


@extend_schema(
    summary="Online metrics of the production version (or ?version=)",
    parameters=[OpenApiParameter("version", int)],
    responses={200: schemas.METRICS, **schemas.ERRORS},
    tags=["inference"],
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def metrics(request, name: str) -> Response:
    return Response(serving.metrics(model=name, version=_version_param(request)))


@extend_schema(
    summary="Request statistics of this server process",
    responses={200: schemas.STATS, **schemas.ERRORS},
    tags=["inference"],
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def stats(request, name: str) -> Response:
    services.get_model_or_404(name)
    return Response(serving.route_stats(model=name))


@extend_schema(
    summary="Store the live learned state as a new version (its parent: the production one)",
    request=schemas.SNAPSHOT_REQUEST,
    responses={201: schemas.SNAPSHOT, **schemas.ERRORS},
    tags=["inference"],
)
@api_view(["POST"])
@permission_classes([CanUpload])
def snapshot(request, name: str) -> Response:
    body = request.data if isinstance(request.data, dict) else {}
    message = body.get("message", "")
    if not isinstance(message, str):
        raise InvalidInput("message must be a string", field="message")
    version = serving.snapshot(model=name, user=request.user, message=message)
    return Response(
        {"model": name, "version": version.number, "parent": version.parent.number, "status": version.status},
        status=status.HTTP_201_CREATED,
    )
