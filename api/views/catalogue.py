"""REST views of the catalogue under /api/v1/: models, versions and their artifacts, deployments, locations.

Each view checks input types with a serializer, calls one catalogue service, and formats the result.
"""

from types import SimpleNamespace

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpResponse
from django.http.request import RawPostDataException
from django.urls import reverse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api import serializers as s
from api.negotiation import ContentNegotiation
from api.parsers import JSONParser, MultiPartParser
from api.permissions import ModelPermission, requires
from api.views.deployments import DeploymentTaskSerializer
from catalogue import selectors, services
from catalogue.errors import InvalidInput, NotFound, TooLarge
from catalogue.models import MLModel, ModelVersion
from serving import deploy

TAGS = ["catalogue"]
CHANGE_MODEL = "catalogue.change_mlmodel"

ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="bad input; the message says what to fix"),
    401: OpenApiResponse(s.ErrorSerializer, description="not logged in (send Authorization: Token <key>)"),
    403: OpenApiResponse(s.ErrorSerializer, description="missing the permission the message names"),
    404: OpenApiResponse(s.ErrorSerializer, description="no such model or version"),
    429: OpenApiResponse(s.ErrorSerializer, description="throttled: retry after Retry-After seconds"),
}


def errors(*codes: int) -> dict:
    """The documented error responses: 401, 404 and 429 always, plus ``codes``."""
    documented = {code: ERRORS[code] for code in (401, 404, 429, *codes) if code in ERRORS}
    for code, description in ((409, "the current state forbids it"), (413, "the artifact is too large")):
        if code in codes:
            documented[code] = OpenApiResponse(s.ErrorSerializer, description=description)
    return documented


class NoFormatOverrideNegotiation(ContentNegotiation):
    """``?format=`` names an artifact's format here, not DRF's renderer override (which would answer 404)."""

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=None)


class CatalogueView(GenericAPIView):
    """Login for reads, model permissions for writes, one error shape even for Django's request limits."""

    permission_classes = [IsAuthenticated, ModelPermission]
    required_permissions: dict[str, tuple[str, str]] = {}
    content_negotiation_class = NoFormatOverrideNegotiation

    def handle_exception(self, exc):
        if isinstance(exc, RequestDataTooBig):
            exc = TooLarge(
                f"the request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
                "(DATA_UPLOAD_MAX_MEMORY_SIZE, set from RHYTHMIC_MAX_ARTIFACT_BYTES)"
            )
        elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):  # Django would answer an HTML 400
            exc = InvalidInput(f"the form has too many fields or files: {exc}")
        return super().handle_exception(exc)

    def get_model(self) -> MLModel:
        return services.get_model_or_404(self.kwargs["name"])

    def get_version(self, *, with_artifact: bool = False) -> ModelVersion:
        return services.get_version_or_404(self.get_model(), self.kwargs["number"], with_artifact=with_artifact)

    def valid(self, serializer_class, data) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def page(self, queryset, serializer_class) -> Response:
        items = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(items, many=True).data)


def _model_response(name: str, http_status: int = status.HTTP_200_OK, **kwargs) -> Response:
    model = selectors.model_get_with_latest(name=name)
    if model is None:
        raise NotFound(f"no model named {name!r}")
    return Response(s.ModelSerializer(model).data, status=http_status, **kwargs)


def _version_data(name: str, number: int) -> dict:
    """A version as stored now: validation may have run inline, or production changed, since it was read."""
    version = selectors.version_get(model=services.get_model_or_404(name), number=number)
    return s.VersionDetailSerializer(version).data


# --- models ------------------------------------------------------------------------------------


class ModelListView(CatalogueView):
    """The catalogue's models."""

    serializer_class = s.ModelSerializer
    required_permissions = requires("catalogue.add_mlmodel", "creating a model")

    @extend_schema(summary="List the models", tags=TAGS, responses={200: s.ModelSerializer(many=True), **errors()})
    def get(self, request) -> Response:
        return self.page(selectors.model_list_with_latest(), s.ModelSerializer)

    @extend_schema(
        summary="Create a model",
        tags=TAGS,
        request=s.ModelCreateSerializer,
        responses={201: s.ModelSerializer, **errors(400, 403, 409)},
    )
    def post(self, request) -> Response:
        fields = self.valid(s.ModelCreateSerializer, request.data)
        model = services.model_create(**fields, owner=request.user)
        location = request.build_absolute_uri(reverse("api:model-detail", kwargs={"name": model.name}))
        return _model_response(model.name, status.HTTP_201_CREATED, headers={"Location": location})


class ModelDetailView(CatalogueView):
    """One model: its flavor, metadata, location, production version and latest version."""

    serializer_class = s.ModelSerializer
    required_permissions = {
        "PATCH": (CHANGE_MODEL, "changing a model"),
        "DELETE": ("catalogue.delete_mlmodel", "deleting a model"),
    }

    @extend_schema(
        summary="A model, its production version and its latest version",
        tags=TAGS,
        responses={200: s.ModelSerializer, **errors()},
    )
    def get(self, request, name: str) -> Response:
        return _model_response(name)

    @extend_schema(
        summary="Change a model's description, metadata or location",
        tags=TAGS,
        request=s.ModelUpdateSerializer,
        responses={200: s.ModelSerializer, **errors(400, 403)},
    )
    def patch(self, request, name: str) -> Response:
        model = self.get_model()
        services.model_update(model=model, **self.valid(s.ModelUpdateSerializer, request.data))
        return _model_response(name)

    @extend_schema(
        summary="Delete a model with all its versions, history and learned state",
        tags=TAGS,
        responses={204: None, **errors(403)},
    )
    def delete(self, request, name: str) -> Response:
        services.model_delete(model=self.get_model())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- versions ----------------------------------------------------------------------------------

UPLOAD_PARAMETERS = [
    OpenApiParameter(name, kind, description=f"raw-body uploads: {description}")
    for name, kind, description in (
        ("format", OpenApiTypes.STR, "dill, pickle, joblib or onnx (unset: guessed from the bytes)"),
        ("message", OpenApiTypes.STR, "a commit-style message"),
        ("description", OpenApiTypes.STR, "a longer description"),
        ("requirements", OpenApiTypes.STR, "requirements.txt text, URL-encoded"),
        ("metadata", OpenApiTypes.STR, 'a JSON object of strings, URL-encoded, like {"team": "fraud"}'),
        ("input_example", OpenApiTypes.STR, 'a JSON object of features, URL-encoded, like {"x": 1.5}'),
        ("parent", OpenApiTypes.INT, "the number of the version it derives from"),
    )
]


def _numbers(raw: str) -> list[int]:
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts or not all(part.isascii() and part.isdigit() and len(part) <= 9 for part in parts):
        raise InvalidInput(
            f"numbers must be version numbers separated by commas, like 2,3; not {raw[:40]!r}", field="numbers"
        )
    return [int(part) for part in parts]


class VersionListView(CatalogueView):
    """A model's versions: immutable artifacts numbered 1, 2, 3…"""

    serializer_class = s.VersionSerializer
    parser_classes = [MultiPartParser]  # raw bodies are read directly, never through a parser
    required_permissions = requires(
        "catalogue.add_modelversion", "uploading a version (loading an artifact runs its code)"
    )

    @extend_schema(
        summary="List a model's versions, newest first",
        description="Each with its lineage (parent) and, when a training job made it, its dataset, params and "
        "training_metrics: `?numbers=2,3` lists those versions side by side.",
        tags=TAGS,
        parameters=[
            OpenApiParameter(
                "numbers", OpenApiTypes.STR, description="comma-separated version numbers to list only, like 2,3"
            )
        ],
        responses={200: s.VersionSerializer(many=True), **errors(400)},
    )
    def get(self, request, name: str) -> Response:
        model = self.get_model()
        versions = selectors.version_list(model=model)
        if "numbers" in request.query_params:
            versions = versions.filter(number__in=_numbers(request.query_params["numbers"]))
        return self.page(versions, s.VersionSerializer)

    @extend_schema(
        summary="Upload an artifact as the next version (the same bytes again: the existing version)",
        description=(
            "Send the artifact as the raw body (Content-Type: application/octet-stream) with the other fields "
            "as query parameters, or as the `file` field of a multipart/form-data form. Validation runs in "
            "the background: the version is `pending` until it is `ready` or `failed` (see its "
            "validation_report)."
        ),
        tags=TAGS,
        parameters=UPLOAD_PARAMETERS,
        request={"application/octet-stream": OpenApiTypes.BINARY, "multipart/form-data": s.VersionUploadFormSerializer},
        responses={
            201: OpenApiResponse(s.VersionDetailSerializer, description="a new version"),
            200: OpenApiResponse(s.VersionDetailSerializer, description="these bytes were uploaded before"),
            415: OpenApiResponse(s.ErrorSerializer, description="neither a raw body nor a multipart form"),
            **errors(400, 403, 413),
        },
    )
    def post(self, request, name: str) -> Response:
        model = self.get_model()
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            fields = self.valid(s.VersionUploadSerializer, request.data)
            data = _read_file(fields.pop("file", None))
        elif content_type in ("application/octet-stream", ""):
            fields = self.valid(s.VersionUploadSerializer, request.query_params)
            data = _raw_body(request)
        else:
            raise UnsupportedMediaType(
                content_type,
                detail=(
                    f"cannot upload {content_type}: send the artifact as the raw body with "
                    "Content-Type: application/octet-stream, or as the file field of a multipart/form-data form"
                ),
            )
        parent_number = fields.pop("parent", None)
        uploaded = services.model_version_upload(
            name=model.name,
            data=data,
            fmt=fields.get("format"),
            requirements=fields.get("requirements", ""),
            message=fields.get("message", ""),
            description=fields.get("description", ""),
            metadata=fields.get("metadata"),
            input_example=fields.get("input_example"),
            author=request.user,
            parent=_parent(model, parent_number),
        )
        version = uploaded.version
        location = reverse("api:version-detail", kwargs={"name": model.name, "number": version.number})
        return Response(
            _version_data(model.name, version.number),
            status=status.HTTP_201_CREATED if uploaded.version_created else status.HTTP_200_OK,
            headers={"Location": request.build_absolute_uri(location)},
        )


def _read_file(upload) -> bytes:
    if upload is None:
        raise InvalidInput("send the artifact in the form's file field", field="file")
    limit = settings.RHYTHMIC_MAX_ARTIFACT_BYTES
    if upload.size > limit:  # refuse before reading it into memory
        raise TooLarge(
            f"the artifact is {upload.size} bytes; the limit is {limit} (RHYTHMIC_MAX_ARTIFACT_BYTES)", field="file"
        )
    return upload.read()


def _raw_body(request) -> bytes:
    try:
        return request.body  # Django refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE: see handle_exception
    except RawPostDataException:
        raise InvalidInput("send the artifact as the raw body or as a multipart form's file field") from None


def _parent(model: MLModel, number: int | None) -> ModelVersion | None:
    if number is None:
        return None
    parent = selectors.version_get(model=model, number=number)
    if parent is None:
        raise InvalidInput(f"parent: {model.name} has no version {number}", field="parent")
    return parent


NUMBER = OpenApiParameter("number", OpenApiTypes.INT, OpenApiParameter.PATH, description="the version number")


class VersionDetailView(CatalogueView):
    """One version, with its validation report, parent and author."""

    serializer_class = s.VersionDetailSerializer

    @extend_schema(
        summary="A version with its validation report",
        tags=TAGS,
        parameters=[NUMBER],
        responses={200: s.VersionDetailSerializer, **errors(400)},
    )
    def get(self, request, name: str, number: str) -> Response:
        version = self.get_version()
        return Response(s.VersionDetailSerializer(version).data)


EXTENSIONS = {"dill": "dill", "pickle": "pkl", "joblib": "joblib", "onnx": "onnx"}


class VersionArtifactView(CatalogueView):
    """The exact uploaded bytes; the sha256 is in ETag and X-Artifact-SHA256."""

    @extend_schema(
        summary="Download a version's artifact (its exact uploaded bytes)",
        tags=TAGS,
        parameters=[NUMBER],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **errors(400)},
    )
    def get(self, request, name: str, number: str) -> HttpResponse:
        version = self.get_version(with_artifact=True)
        response = HttpResponse(bytes(version.artifact), content_type="application/octet-stream")
        filename = f"{version.model.name}-v{version.number}.{EXTENSIONS.get(version.format, 'bin')}"
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
        response["ETag"] = f'"{version.sha256}"'
        response["X-Artifact-SHA256"] = version.sha256
        return response

    def perform_content_negotiation(self, request, force=False):
        # The bytes are not rendered; an "Accept: application/octet-stream" must not be refused with 406.
        return super().perform_content_negotiation(request, force=True)


# --- deployments -------------------------------------------------------------------------------


class VersionActionView(CatalogueView):
    """An action on a version or model, with an optional JSON body."""

    parser_classes = [JSONParser]

    def note(self, request) -> str:
        return self.valid(s.NoteSerializer, request.data)["note"]


ACTION_ERRORS = errors(400, 403, 409)


class PromoteView(VersionActionView):
    """Promotion is atomic: every serving process picks the new version up without a restart."""

    serializer_class = s.DeploymentSerializer
    required_permissions = requires(CHANGE_MODEL, "promoting a version")

    @extend_schema(
        summary="Put a ready version in production (recorded in the deployment history)",
        tags=TAGS,
        parameters=[NUMBER],
        description="A deploy to the model's location (POST .../deploy): every live instance there pre-loads the "
        "version, then production switches. 200 with the switch when that took less than "
        f"{deploy.PROMOTE_WAIT_S:g} s; else 202 with the deploy, still running; 409 when it failed (its message "
        "says why: no live instance, a missing package, an instance not ready in time).",
        request=s.NoteSerializer,
        responses={200: s.DeploymentSerializer, 202: DeploymentTaskSerializer, **ACTION_ERRORS},
    )
    def post(self, request, name: str, number: str) -> Response:
        note = self.note(request)
        task = deploy.promote_task(version=self.get_version(), user=request.user, note=note)
        if task.deployment is None:
            return Response(DeploymentTaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)
        return Response(s.DeploymentSerializer(task.deployment).data)


class RetireView(VersionActionView):
    """A retired version stays in the catalogue (and its artifact downloadable)."""

    serializer_class = s.VersionDetailSerializer
    required_permissions = requires(CHANGE_MODEL, "retiring a version")

    @extend_schema(
        summary="Retire a version: it can no longer be promoted; if it was in production, the model has none",
        tags=TAGS,
        parameters=[NUMBER],
        request=s.NoteSerializer,
        responses={200: s.VersionDetailSerializer, **ACTION_ERRORS},
    )
    def post(self, request, name: str, number: str) -> Response:
        note = self.note(request)
        version = services.version_retire(version=self.get_version(), user=request.user, note=note)
        return Response(_version_data(name, version.number))


class ValidateView(VersionActionView):
    """Runs the flavor's checks again, e.g. after fixing the server's packages."""

    serializer_class = s.VersionDetailSerializer
    required_permissions = requires(CHANGE_MODEL, "validating a version again")

    @extend_schema(
        summary="Validate a version again (202 while it waits for a worker, 200 when it ran inline)",
        tags=TAGS,
        parameters=[NUMBER],
        request=None,
        responses={200: s.VersionDetailSerializer, 202: s.VersionDetailSerializer, **ACTION_ERRORS},
    )
    def post(self, request, name: str, number: str) -> Response:
        version = services.model_version_revalidate(version=self.get_version())
        data = _version_data(name, version.number)
        waiting = data["status"] in (ModelVersion.Status.PENDING, ModelVersion.Status.VALIDATING)
        return Response(data, status=status.HTTP_202_ACCEPTED if waiting else status.HTTP_200_OK)


class RollbackView(VersionActionView):
    """Goes back one step in the deployment history, to the last ready production version."""

    serializer_class = s.DeploymentSerializer
    required_permissions = requires(CHANGE_MODEL, "rolling back a model")

    @extend_schema(
        summary="Return to the previous production version",
        tags=TAGS,
        request=s.NoteSerializer,
        responses={200: s.DeploymentSerializer, **ACTION_ERRORS},
    )
    def post(self, request, name: str) -> Response:
        note = self.note(request)
        deployment = services.deployment_rollback(model=self.get_model(), user=request.user, note=note)
        return Response(s.DeploymentSerializer(deployment).data)


class DeploymentListView(CatalogueView):
    """Every promote, rollback and retire, with who did it and their note."""

    serializer_class = s.DeploymentSerializer

    @extend_schema(
        summary="The model's deployment history, newest first",
        tags=TAGS,
        responses={200: s.DeploymentSerializer(many=True), **errors()},
    )
    def get(self, request, name: str) -> Response:
        return self.page(selectors.deployment_list(model=self.get_model()), s.DeploymentSerializer)


# --- locations ---------------------------------------------------------------------------------


class LocationListView(CatalogueView):
    """Locations map to serving pools: a process started for a location serves only its models."""

    serializer_class = s.LocationSerializer
    required_permissions = requires("catalogue.add_location", "creating a location")

    @extend_schema(
        summary="List the locations (serving pools)",
        tags=TAGS,
        responses={200: s.LocationSerializer(many=True), 401: ERRORS[401], 429: ERRORS[429]},
    )
    def get(self, request) -> Response:
        return self.page(selectors.location_list(), s.LocationSerializer)

    @extend_schema(
        summary="Create a location (is_default: models created without one go there)",
        tags=TAGS,
        request=s.LocationCreateSerializer,
        responses={201: s.LocationSerializer, **errors(400, 403, 409)},
    )
    def post(self, request) -> Response:
        location = services.location_create(**self.valid(s.LocationCreateSerializer, request.data))
        return Response(s.LocationSerializer(location).data, status=status.HTTP_201_CREATED)
