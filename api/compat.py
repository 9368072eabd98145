"""chantilly 0.3.0's routes with its request and response shapes, so its clients work unchanged.

Where chantilly answers 500 (bad bodies, garbage uploads, wrong-typed ground truths), these answer a
clear 4xx in Rhythmic's error shape and change nothing.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.http.request import RawPostDataException
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

import serving
from api import schemas
from api.inference import INFERENCE_PERMISSIONS, json_object
from catalogue import selectors
from catalogue.errors import InvalidInput, TooLarge, error_body, failure
from serving import compat
from serving.timings import empty_stats

TAGS = ["chantilly"]


def raw_body(request) -> bytes:
    """The raw request body, with the size limit turned into a 413 in the API's error shape."""
    try:
        return request.body
    except RequestDataTooBig:
        raise TooLarge(
            f"the body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes (RHYTHMIC_MAX_ARTIFACT_BYTES)"
        ) from None
    except RawPostDataException:  # the body was already parsed as a form
        raise InvalidInput("send the model bytes as the raw body, not as a form") from None


# What each write needs: exactly what its REST equivalent needs (api/views/catalogue.py).
ADD_MODEL = ("catalogue.add_mlmodel", "creating a model")
UPLOAD = ("catalogue.add_modelversion", "uploading a version (loading an artifact runs its code)")
PROMOTE = ("catalogue.change_mlmodel", "promoting a version")
RESET = ("catalogue.change_mlmodel", "starting the chantilly workspace afresh (it retires every model in it)")
DELETE = ("catalogue.delete_mlmodel", "deleting a model")


def _refusal(request, *required: tuple[str, str]) -> Response | None:
    """A 403 naming the first permission of ``required`` the user lacks, or None when they hold them all."""
    for permission, action in required:
        if not request.user.has_perm(permission):
            return Response(error_body(failure(403, f"{action} needs the {permission} permission")), status=403)
    return None


@extend_schema(
    summary="chantilly: get or set the flavor (setting it starts the workspace afresh)",
    request=schemas.FLAVOR,
    responses={200: schemas.FLAVOR, 201: schemas.EMPTY, **schemas.ERRORS},
    tags=TAGS,
)
@api_view(["GET", "POST"])
def init(request) -> Response:
    if request.method == "GET":
        return Response({"flavor": compat.flavor()})
    if refused := _refusal(request, RESET):
        return refused
    body = json_object(request)
    if "flavor" not in body:
        raise InvalidInput('send {"flavor": "regression" | "binary" | "multiclass"}', field="flavor")
    compat.init(flavor_name=body["flavor"])
    return Response({}, status=status.HTTP_201_CREATED)


def _model(request, name: str | None):
    if request.method == "GET":
        number, data = serving.live_state(model=compat.resolve(name))
        response = HttpResponse(data, content_type="application/octet-stream")
        response["X-Model-Version"] = str(number)
        return response
    if request.method == "DELETE":
        if refused := _refusal(request, DELETE):
            return refused
        if name is None:
            raise InvalidInput("name the model to delete: DELETE /api/model/<name>")
        compat.remove(name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)
    # An upload to a new name (or to no name: a generated one) creates the model too.
    creates = name is None or selectors.model_get(name=name) is None
    if refused := _refusal(request, *((ADD_MODEL,) if creates else ()), UPLOAD, PROMOTE):
        return refused
    created = compat.upload(data=raw_body(request), name=name, user=request.user)
    return Response({"name": created.name}, status=status.HTTP_201_CREATED)


MODEL_SCHEMA = {
    "request": {"application/octet-stream": schemas.BINARY},
    "responses": {(200, "application/octet-stream"): schemas.BINARY, 201: schemas.NAME, 204: None, **schemas.ERRORS},
    "tags": TAGS,
}


@extend_schema(methods=["GET"], operation_id="chantilly_model_download")
@extend_schema(methods=["POST"], operation_id="chantilly_model_upload")
@extend_schema(methods=["DELETE"], operation_id="chantilly_model_delete_default")
@extend_schema(summary="chantilly: upload (a generated name), or download, the default model", **MODEL_SCHEMA)
@api_view(["GET", "POST", "DELETE"])
def model(request):
    return _model(request, None)


@extend_schema(summary="chantilly: upload, download or delete a named model", **MODEL_SCHEMA)
@api_view(["GET", "POST", "DELETE"])
def model_named(request, name: str):
    return _model(request, name)


@extend_schema(
    summary="chantilly: the workspace's models and the default one",
    responses={200: schemas.MODELS, **schemas.ERRORS},
    tags=TAGS,
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def models(request) -> Response:
    return Response(compat.names())


@extend_schema(
    summary="chantilly: predict (201 when an id was given)",
    request=schemas.COMPAT_PREDICT_REQUEST,
    responses={200: schemas.COMPAT_PREDICTION, 201: schemas.COMPAT_PREDICTION, **schemas.ERRORS},
    tags=TAGS,
)
@api_view(["POST"])
@permission_classes(INFERENCE_PERMISSIONS)
def predict(request) -> Response:
    body = json_object(request)
    result = serving.predict(model=compat.resolve(body.get("model")), features=body.get("features"), id=body.get("id"))
    code = status.HTTP_201_CREATED if body.get("id") is not None else status.HTTP_200_OK
    return Response({"model": result.model, "prediction": result.as_dict()["prediction"]}, status=code)


@extend_schema(
    summary="chantilly: learn a ground truth (by id, or with features)",
    request=schemas.COMPAT_LEARN_REQUEST,
    responses={201: schemas.EMPTY, **schemas.ERRORS},
    tags=TAGS,
)
@api_view(["POST"])
@permission_classes(INFERENCE_PERMISSIONS)
def learn(request) -> Response:
    body = json_object(request)
    name = body.get("model")
    if name is None and body.get("id") is not None:
        name = compat.resolve_for_id(body["id"])  # the model that made the prediction
    serving.learn(
        model=compat.resolve(name),
        ground_truth=body.get("ground_truth"),
        id=body.get("id"),
        features=body.get("features"),
    )
    return Response({}, status=status.HTTP_201_CREATED)


@extend_schema(
    summary="chantilly: online metrics of the default model (or ?model=)",
    responses={200: schemas.METRIC_VALUES, **schemas.ERRORS},
    tags=TAGS,
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def metrics(request) -> Response:
    return Response(serving.metrics(model=compat.resolve(request.query_params.get("model")))["metrics"])


@extend_schema(
    summary="chantilly: request statistics of the default model (or ?model=)",
    responses={200: schemas.STATS, **schemas.ERRORS},
    tags=TAGS,
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def stats(request) -> Response:
    per_route = serving.route_stats(model=compat.resolve(request.query_params.get("model")))
    empty = empty_stats()
    return Response({route: per_route.get(route, empty) for route in ("predict", "learn")})
