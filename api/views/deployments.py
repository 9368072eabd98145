"""REST views of deployment tasks: deploy a version (to its model's location or another), read a deploy, list a
model's deploys. Each view checks input types with a serializer and calls one function of ``serving.deploy``.
``urlpatterns`` at the bottom is included by api/urls.py.
"""

from django.urls import path, reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api.parsers import JSONParser
from api.permissions import ModelPermission, requires
from api.routes import with_slash
from api.serializers import ErrorSerializer, StrictSerializer, TextField
from catalogue import services
from catalogue.errors import NotFound
from serving import deploy
from serving.models import DeploymentTask, Preload

TAGS = ["deployments"]
CHANGE_MODEL = "catalogue.change_mlmodel"
ERRORS = {
    code: OpenApiResponse(ErrorSerializer, description=description)
    for code, description in (
        (400, "bad input; the message says what to fix"),
        (401, "not logged in (send Authorization: Token <key>)"),
        (403, "missing the permission the message names"),
        (404, "no such model, version or deploy"),
        (409, "the version is not ready, or already in production at that location"),
        (429, "throttled: retry after Retry-After seconds"),
    )
}
NUMBER = OpenApiParameter("number", int, OpenApiParameter.PATH, description="the version number")
TASK_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="the deploy's id")


def errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in (401, 404, 429, *codes)}


class DeployRequestSerializer(StrictSerializer):
    location = TextField(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="the target location's name (default: the model's location; empty or null: no location). "
        "Another location than the model's moves it there.",
    )
    timeout_s = serializers.FloatField(
        required=False,
        help_text="how long to wait for every instance to pre-load (default RHYTHMIC_DEPLOY_TIMEOUT_SECONDS)",
    )
    note = TextField(required=False, allow_blank=True, max_length=500, default="")


class PreloadSerializer(serializers.ModelSerializer):
    class Meta:
        model = Preload
        fields = ["instance_key", "host", "pid", "status", "error", "asked_at", "ready_at", "applied_seq"]
        read_only_fields = fields


class DeploymentTaskSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    model = serializers.CharField(source="model.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    location = serializers.CharField(source="location.name", read_only=True, default=None)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    from_version = serializers.IntegerField(source="deployment.from_version.number", read_only=True, default=None)
    preloads = PreloadSerializer(many=True, read_only=True, help_text="each instance's record: asked, ready, failed")

    class Meta:
        model = DeploymentTask
        fields = [
            "id",
            "url",
            "model",
            "version",
            "location",
            "status",
            "reason",
            "timeout_s",
            "note",
            "created_by",
            "created_at",
            "finished_at",
            "from_version",
            "preloads",
        ]
        read_only_fields = fields

    def get_url(self, task: DeploymentTask) -> str:
        return reverse("api:deployment-task-detail", kwargs={"pk": task.pk})


class DeploymentView(GenericAPIView):
    """Login for reads, catalogue.change_mlmodel (as promote) to deploy, JSON bodies only."""

    permission_classes = [IsAuthenticated, ModelPermission]
    parser_classes = [JSONParser]
    serializer_class = DeploymentTaskSerializer

    def data(self, task_id: int) -> dict:
        return DeploymentTaskSerializer(deploy.get(task_id)).data


class DeployView(DeploymentView):
    required_permissions = requires(CHANGE_MODEL, "deploying a version")

    @extend_schema(
        summary="Deploy a version: every live instance of the location pre-loads it, then production switches",
        description="Answers 202 with the deploy; follow its url for its status and each instance's record. "
        "Production stays as it was if no instance of the location is live, one lacks a package the version "
        "requires, or one is not ready within timeout_s; the deploy's reason says which.",
        tags=TAGS,
        parameters=[NUMBER],
        request=DeployRequestSerializer,
        responses={202: DeploymentTaskSerializer, **errors(400, 403, 409)},
    )
    def post(self, request, name: str, number: str) -> Response:
        version = services.get_version_or_404(services.get_model_or_404(name), number)
        serializer = DeployRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        if "location" in fields:
            fields["location"] = fields["location"] or None
        task = deploy.deploy(version=version, user=request.user, **fields)
        data = self.data(task.pk)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


class DeploymentTaskDetailView(DeploymentView):
    @extend_schema(
        summary="A deploy: status, the reason if it failed, each instance's pre-load",
        tags=TAGS,
        parameters=[TASK_ID],
        responses={200: DeploymentTaskSerializer, **errors()},
    )
    def get(self, request, pk: int) -> Response:
        if deploy.get(pk) is None:
            raise NotFound(f"no deploy {pk}")
        return Response(self.data(pk))


class ModelDeploymentTaskListView(DeploymentView):
    @extend_schema(
        summary="The model's deploys, newest first, with each instance's record",
        tags=TAGS,
        responses={200: DeploymentTaskSerializer(many=True), **errors()},
    )
    def get(self, request, name: str) -> Response:
        items = self.paginate_queryset(deploy.list_for(model=services.get_model_or_404(name)))
        return self.get_paginated_response(DeploymentTaskSerializer(items, many=True).data)


urlpatterns = [
    path("models/<str:name>/versions/<str:number>/deploy", DeployView.as_view(), name="version-deploy"),
    path("models/<str:name>/deployment-tasks/", ModelDeploymentTaskListView.as_view(), name="deployment-task-list"),
    path("models/<str:name>/deployment-tasks", with_slash),
    path("deployments/<int:pk>/", DeploymentTaskDetailView.as_view(), name="deployment-task-detail"),
    path("deployments/<int:pk>", with_slash),
]
