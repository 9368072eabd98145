"""REST views of training jobs under /api/v1/models/{name}/jobs/: start, list, read, cancel.

Each view checks input types with a serializer, calls one function of ``serving.training``, and formats the
result. Training makes a version, so it needs what an upload needs (catalogue.add_modelversion); with
``"promote": true`` it also needs what a promotion needs (catalogue.change_mlmodel).
"""

from django.urls import path, reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api.parsers import JSONParser
from api.permissions import ModelPermission, requires
from api.routes import with_slash
from api.serializers import ErrorSerializer, StrictSerializer, TextField
from catalogue import services
from catalogue.errors import NotFound
from serving import training
from serving.models import TrainingJob

TAGS = ["training"]
ADD_VERSION = "catalogue.add_modelversion"
CHANGE_MODEL = "catalogue.change_mlmodel"
ERRORS = {
    code: OpenApiResponse(ErrorSerializer, description=description)
    for code, description in (
        (400, "bad input; the message says what to fix"),
        (401, "not logged in (send Authorization: Token <key>)"),
        (403, "missing the permission the message names"),
        (404, "no such model or job"),
        (409, "the current state forbids it (a version not ready, a finished job)"),
        (429, "throttled: retry after Retry-After seconds"),
    )
}
JOB_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="the job's id")


def errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in (401, 404, 429, *codes)}


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}], "example": 1})
class DatasetRefField(serializers.Field):
    """A dataset's id, or its name."""

    default_error_messages = {"invalid": "must be a dataset's id (a whole number) or its name (a string)"}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        return data


class TrainingCreateSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=training.KINDS, default="train", help_text="what the job does")
    version = serializers.IntegerField(help_text="the version trained: its number")
    dataset = DatasetRefField(help_text="the dataset learned: its id (or name)")
    from_ = serializers.ChoiceField(
        choices=TrainingJob.Start.choices,
        default=TrainingJob.Start.ARTIFACT,
        help_text="start from the version's uploaded artifact, or from its live (learned) state: a warm start",
    )
    params = serializers.DictField(
        required=False,
        help_text="scikit-learn: keyword arguments of fit / partial_fit; river: hyperparameters the model is "
        'cloned with (river clone(new_params); a pipeline\'s by step name: {"LinearRegression": {"l2": 0.1}})',
    )
    method = serializers.ChoiceField(
        choices=["fit", "partial_fit"], required=False, help_text="scikit-learn only: fit (default) or partial_fit"
    )
    holdout = serializers.FloatField(
        required=False, help_text="scikit-learn only: the share of last rows scored, not trained on (default 0.2)"
    )
    promote = serializers.BooleanField(default=False, help_text="put the trained version in production")
    message = TextField(required=False, allow_blank=True, max_length=500, help_text="the new version's message")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # a Python keyword: declared as from_
        return fields


class TrainingSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    dataset = serializers.IntegerField(source="dataset_id", read_only=True, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    result_version = serializers.IntegerField(
        source="result.number", read_only=True, default=None, help_text="the version it made (null until then)"
    )
    metrics = serializers.DictField(
        read_only=True,
        help_text='{"values": {metric: value}, "n_scored", ...; river: prequential, as progressive_val_score; '
        'scikit-learn: "score" and values on the holdout; "start" and, from live, "state_seq"}',
    )
    url = serializers.SerializerMethodField()

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "url",
            "kind",
            "model",
            "version",
            "dataset",
            "dataset_name",
            "from",
            "method",
            "params",
            "holdout",
            "promote",
            "message",
            "status",
            "progress",
            "rows_done",
            "rows_total",
            "metrics",
            "result_version",
            "error",
            "cancel_requested",
            "created_by",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        ]
        read_only_fields = fields

    def build_field(self, field_name, info, model_class, nested_depth):
        if field_name == "from":  # a Python keyword, so not declared above: the model's ``start``
            return serializers.ChoiceField, {"choices": TrainingJob.Start.choices, "source": "start"}
        return super().build_field(field_name, info, model_class, nested_depth)

    def get_url(self, job: TrainingJob) -> str:
        return reverse("api:training-detail", kwargs={"name": job.model.name, "pk": job.pk})


class TrainingView(GenericAPIView):
    """Login for reads, catalogue.add_modelversion to start or cancel, JSON bodies only."""

    permission_classes = [IsAuthenticated, ModelPermission]
    parser_classes = [JSONParser]
    serializer_class = TrainingSerializer

    def get_model(self):
        return services.get_model_or_404(self.kwargs["name"])

    def get_job(self, *, recover: bool = True) -> TrainingJob:
        model = self.get_model()
        job = training.training_get(model=model, job_id=self.kwargs["pk"], recover=recover)
        if job is None:
            raise NotFound(f"{model.name} has no training job {self.kwargs['pk']}")
        return job

    def data(self, job: TrainingJob) -> dict:
        return TrainingSerializer(training.training_get(model=job.model, job_id=job.pk)).data


class TrainingListView(TrainingView):
    """The model's training jobs, newest first; POST starts one."""

    required_permissions = requires(ADD_VERSION, "training a version (it makes a new version)")

    @extend_schema(
        summary="List the model's training jobs, newest first",
        tags=TAGS,
        responses={200: TrainingSerializer(many=True), **errors()},
    )
    def get(self, request, name: str) -> Response:
        items = self.paginate_queryset(training.training_list(model=self.get_model()))
        return self.get_paginated_response(TrainingSerializer(items, many=True).data)

    @extend_schema(
        summary="Start a training job: train a version on a dataset into the next version, in the background",
        description="Answers 202 at once; follow the job's url (or the model's live events, type "
        '"training") for its progress, then result_version. River models learn the rows in file order '
        "(learn_one) and are scored prequentially; scikit-learn models fit (or partial_fit) and are scored "
        "on a holdout. The new version's parent is `version`; it records the dataset, params and metrics, is "
        'validated as any upload, and is promoted only with "promote": true.',
        tags=TAGS,
        request=TrainingCreateSerializer,
        responses={202: TrainingSerializer, **errors(400, 403, 409)},
    )
    def post(self, request, name: str) -> Response:
        model = self.get_model()
        serializer = TrainingCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        if fields.get("promote") and not request.user.has_perm(CHANGE_MODEL):
            raise PermissionDenied(f"training with promote: true needs the {CHANGE_MODEL} permission")
        job = training.training_start(model=model, user=request.user, start=fields.pop("from"), **fields)
        data = self.data(job)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


class TrainingDetailView(TrainingView):
    @extend_schema(
        summary="A training job: status, progress, rows done, metrics, the version it made",
        tags=TAGS,
        parameters=[JOB_ID],
        responses={200: TrainingSerializer, **errors()},
    )
    def get(self, request, name: str, pk: int) -> Response:
        return Response(self.data(self.get_job()))


class TrainingCancelView(TrainingView):
    required_permissions = requires(ADD_VERSION, "cancelling a training job")

    @extend_schema(
        summary="Cancel a training job: a queued one at once (200), a running one after its current chunk (202)",
        tags=TAGS,
        parameters=[JOB_ID],
        request=None,
        responses={200: TrainingSerializer, 202: TrainingSerializer, **errors(403, 409)},
    )
    def post(self, request, name: str, pk: int) -> Response:
        job = training.training_cancel(job=self.get_job(recover=False), user=request.user)
        data = self.data(job)
        stopping = data["status"] == TrainingJob.Status.RUNNING
        return Response(data, status=status.HTTP_202_ACCEPTED if stopping else status.HTTP_200_OK)


urlpatterns = [
    path("models/<str:name>/jobs/", TrainingListView.as_view(), name="training-list"),
    path("models/<str:name>/jobs", with_slash),
    path("models/<str:name>/jobs/<int:pk>/", TrainingDetailView.as_view(), name="training-detail"),
    path("models/<str:name>/jobs/<int:pk>", with_slash),
    path("models/<str:name>/jobs/<int:pk>/cancel", TrainingCancelView.as_view(), name="training-cancel"),
]
