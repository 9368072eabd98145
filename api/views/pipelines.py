"""REST views of pipelines under /api/v1/pipelines/: create, list, read, new versions, promote, rollback,
predict and learn. Each view checks input types with a serializer, calls one function of ``catalogue.pipelines``
or ``serving.pipelines``, and formats the result. ``urlpatterns`` at the bottom is included by api/urls.py.

Permissions are those of the equivalent model routes: creating needs catalogue.add_mlmodel, a new version
catalogue.add_modelversion, promote and rollback catalogue.change_mlmodel, deleting catalogue.delete_mlmodel,
predict and learn the inference rule
(``api.permissions.may_infer``, which today covers every model alike, so every stage's model).
"""

from django.urls import path, reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api.inference import json_object
from api.parsers import JSONParser
from api.permissions import CanInfer, ModelPermission, requires
from api.pipeline_serializers import (
    LEARN_REQUEST,
    LEARNED,
    PREDICT_REQUEST,
    PREDICTION,
    PipelineCreateSerializer,
    PipelineDeploymentSerializer,
    PipelineDetailSerializer,
    PipelineSerializer,
    PipelineVersionCreateSerializer,
    PipelineVersionSerializer,
)
from api.routes import collection
from api.serializers import ErrorSerializer, NoteSerializer
from catalogue import pipelines
from catalogue.pipeline_models import Pipeline
from serving import pipelines as served

TAGS = ["pipelines"]
CHANGE_MODEL = "catalogue.change_mlmodel"
ERRORS = {
    code: OpenApiResponse(ErrorSerializer, description=description)
    for code, description in (
        (400, "bad input; the message says what to fix (the stage, the feature, the ground truth)"),
        (401, "not logged in (send Authorization: Token <key>)"),
        (403, "missing the permission the message names"),
        (404, "no such pipeline or version, or no pending prediction with that id"),
        (409, "the current state forbids it (a stage model without production, an id already learned)"),
        (429, "throttled: retry after Retry-After seconds"),
    )
}
NUMBER = OpenApiParameter("number", int, OpenApiParameter.PATH, description="the pipeline version's number")


def errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in (401, 404, 429, *codes)}


# --- views -------------------------------------------------------------------------------------


class PipelineView(GenericAPIView):
    """Login for reads, model permissions for writes; a JSON body."""

    permission_classes = [IsAuthenticated, ModelPermission]
    parser_classes = [JSONParser]
    required_permissions: dict[str, tuple[str, str]] = {}

    def valid(self, serializer_class, data) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def get_pipeline(self) -> Pipeline:
        return pipelines.get_pipeline_or_404(self.kwargs["name"])


def _detail(name: str, http_status: int = status.HTTP_200_OK, **kwargs) -> Response:
    pipeline = pipelines.get_pipeline_or_404(name)
    return Response(PipelineDetailSerializer(pipeline).data, status=http_status, **kwargs)


class PipelineListView(PipelineView):
    """The pipelines: chains of catalogue models that answer as one."""

    serializer_class = PipelineSerializer
    required_permissions = requires("catalogue.add_mlmodel", "creating a pipeline")

    @extend_schema(summary="List the pipelines", tags=TAGS, responses={200: PipelineSerializer(many=True), **errors()})
    def get(self, request) -> Response:
        items = self.paginate_queryset(pipelines.pipeline_list())
        return self.get_paginated_response(PipelineSerializer(items, many=True).data)

    @extend_schema(
        summary="Create a pipeline; its stages are version 1, in production at once",
        tags=TAGS,
        request=PipelineCreateSerializer,
        responses={201: PipelineDetailSerializer, **errors(400, 403, 409)},
    )
    def post(self, request) -> Response:
        pipeline = pipelines.pipeline_create(**self.valid(PipelineCreateSerializer, request.data), owner=request.user)
        location = request.build_absolute_uri(reverse("api:pipeline-detail", kwargs={"name": pipeline.name}))
        return _detail(pipeline.name, status.HTTP_201_CREATED, headers={"Location": location})


class PipelineDetailView(PipelineView):
    """One pipeline with its versions (newest first) and its deployment history (newest first); deleting it."""

    serializer_class = PipelineDetailSerializer
    required_permissions = requires("catalogue.delete_mlmodel", "deleting a pipeline", methods=("DELETE",))

    @extend_schema(
        summary="A pipeline, its versions and its history",
        tags=TAGS,
        responses={200: PipelineDetailSerializer, **errors()},
    )
    def get(self, request, name: str) -> Response:
        return _detail(name)

    @extend_schema(
        summary="Delete a pipeline with its versions and history (its stage models stay as they are)",
        tags=TAGS,
        responses={204: None, **errors(403)},
    )
    def delete(self, request, name: str) -> Response:
        pipelines.pipeline_delete(pipeline=self.get_pipeline())
        return Response(status=status.HTTP_204_NO_CONTENT)


class PipelineVersionListView(PipelineView):
    """Each change of stages is a new version; it answers once promoted."""

    serializer_class = PipelineVersionSerializer
    required_permissions = requires("catalogue.add_modelversion", "creating a pipeline version")

    @extend_schema(
        summary="The pipeline's versions, newest first",
        tags=TAGS,
        responses={200: PipelineVersionSerializer(many=True), **errors()},
    )
    def get(self, request, name: str) -> Response:
        items = self.paginate_queryset(pipelines.pipeline_versions(pipeline=self.get_pipeline()))
        return self.get_paginated_response(PipelineVersionSerializer(items, many=True).data)

    @extend_schema(
        summary="A new version of the pipeline with other stages (not in production until promoted)",
        tags=TAGS,
        request=PipelineVersionCreateSerializer,
        responses={201: PipelineVersionSerializer, **errors(400, 403, 409)},
    )
    def post(self, request, name: str) -> Response:
        fields = self.valid(PipelineVersionCreateSerializer, request.data)
        version = pipelines.pipeline_version_create(pipeline=self.get_pipeline(), **fields, author=request.user)
        return Response(PipelineVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class PipelinePromoteView(PipelineView):
    """Promotion is atomic and recorded; every serving process reads the pipeline's production per request."""

    serializer_class = PipelineDeploymentSerializer
    required_permissions = requires(CHANGE_MODEL, "promoting a pipeline version")

    @extend_schema(
        summary="Put a pipeline version in production (recorded in its history)",
        tags=TAGS,
        parameters=[NUMBER],
        request=NoteSerializer,
        responses={200: PipelineDeploymentSerializer, **errors(400, 403, 409)},
    )
    def post(self, request, name: str, number: str) -> Response:
        note = self.valid(NoteSerializer, request.data)["note"]
        version = pipelines.get_pipeline_version_or_404(self.get_pipeline(), number)
        deployment = pipelines.pipeline_promote(version=version, user=request.user, note=note)
        return Response(PipelineDeploymentSerializer(deployment).data)


class PipelineRollbackView(PipelineView):
    """Goes back one step in the pipeline's history."""

    serializer_class = PipelineDeploymentSerializer
    required_permissions = requires(CHANGE_MODEL, "rolling back a pipeline")

    @extend_schema(
        summary="Return to the pipeline's previous production version",
        tags=TAGS,
        request=NoteSerializer,
        responses={200: PipelineDeploymentSerializer, **errors(400, 403, 409)},
    )
    def post(self, request, name: str) -> Response:
        note = self.valid(NoteSerializer, request.data)["note"]
        deployment = pipelines.pipeline_rollback(pipeline=self.get_pipeline(), user=request.user, note=note)
        return Response(PipelineDeploymentSerializer(deployment).data)


@extend_schema(
    summary="Predict with every stage; the last stage's prediction answers",
    request=PREDICT_REQUEST,
    responses={200: PREDICTION, **errors(400, 403, 409)},
    tags=TAGS,
)
@api_view(["POST"])
@permission_classes([CanInfer])
def predict(request, name: str) -> Response:
    body = json_object(request)
    return Response(served.predict(pipeline=name, features=body.get("features"), id=body.get("id")).as_dict())


@extend_schema(
    summary="Learn by the id given to predict: the last stage its ground truth, anomaly stages their features",
    request=LEARN_REQUEST,
    responses={201: LEARNED, **errors(400, 403, 409)},
    tags=TAGS,
)
@api_view(["POST"])
@permission_classes([CanInfer])
def learn(request, name: str) -> Response:
    body = json_object(request)
    result = served.learn(pipeline=name, id=body.get("id"), ground_truth=body.get("ground_truth"))
    return Response(result, status=status.HTTP_201_CREATED)


urlpatterns = [
    *collection("pipelines/", PipelineListView, "pipeline-list"),
    *collection("pipelines/<str:name>/", PipelineDetailView, "pipeline-detail"),
    *collection("pipelines/<str:name>/versions/", PipelineVersionListView, "pipeline-version-list"),
    path(
        "pipelines/<str:name>/versions/<str:number>/promote",
        PipelinePromoteView.as_view(),
        name="pipeline-version-promote",
    ),
    path("pipelines/<str:name>/rollback", PipelineRollbackView.as_view(), name="pipeline-rollback"),
    path("pipelines/<str:name>/predict", predict, name="pipeline-predict"),
    path("pipelines/<str:name>/learn", learn, name="pipeline-learn"),
]
