"""REST views of backtests under /api/v1/models/{name}/backtests/: start, list, read, cancel.

Each view checks input types with a serializer, calls one function of ``serving.backtests``, and formats the
result. ``urlpatterns`` at the bottom is included by api/urls.py.
"""

from django.urls import path, reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api.parsers import JSONParser
from api.permissions import ModelPermission, requires
from api.routes import with_slash
from api.serializers import ErrorSerializer, StrictSerializer
from catalogue import services
from catalogue.errors import NotFound
from serving import backtests
from serving.models import Backtest

TAGS = ["backtests"]
CHANGE_MODEL = "catalogue.change_mlmodel"
ERRORS = {
    code: OpenApiResponse(ErrorSerializer, description=description)
    for code, description in (
        (400, "bad input; the message says what to fix"),
        (401, "not logged in (send Authorization: Token <key>)"),
        (403, "missing the permission the message names"),
        (404, "no such model or backtest"),
        (409, "the current state forbids it (an empty learn log, a version not ready, a finished backtest)"),
        (429, "throttled: retry after Retry-After seconds"),
    )
}
BACKTEST_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="the backtest's id")


def errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in (401, 404, 429, *codes)}


class BacktestCreateSerializer(StrictSerializer):
    version = serializers.IntegerField(help_text="the version number whose artifact is replayed")
    from_seq = serializers.IntegerField(required=False, help_text="the first learn-log entry replayed (default 1)")
    to_seq = serializers.IntegerField(
        required=False, help_text="the last learn-log entry replayed (default: the log's end when it starts)"
    )


class FiguresSerializer(serializers.Serializer):
    """Schema only: the shape of ``metrics`` and ``baseline``."""

    values = serializers.DictField(child=serializers.FloatField(allow_null=True), help_text="metric name: value")
    n_scored = serializers.IntegerField(help_text="labelled predictions folded")
    n_not_scored = serializers.IntegerField(help_text="labelled predictions not folded (not finite numbers)")
    n_learn_errors = serializers.IntegerField(required=False, help_text="(metrics only) events the model raised on")


class BacktestSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    metrics = serializers.SerializerMethodField(help_text="the replay: predict, fold the logged ground truth, learn")
    baseline = serializers.SerializerMethodField(help_text="the logged predictions of the versions that served")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Backtest
        fields = [
            "id",
            "url",
            "model",
            "version",
            "from_seq",
            "to_seq",
            "status",
            "progress",
            "events_done",
            "events_total",
            "metrics",
            "baseline",
            "error",
            "cancel_requested",
            "created_by",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_url(self, backtest: Backtest) -> str:
        return reverse("api:backtest-detail", kwargs={"name": backtest.model.name, "pk": backtest.pk})

    # Empty until the first chunk is replayed: null rather than half an object.
    @extend_schema_field(FiguresSerializer(allow_null=True))
    def get_metrics(self, backtest: Backtest) -> dict | None:
        return backtest.metrics or None

    @extend_schema_field(FiguresSerializer(allow_null=True))
    def get_baseline(self, backtest: Backtest) -> dict | None:
        return backtest.baseline or None


class BacktestView(GenericAPIView):
    """Login for reads, catalogue.change_mlmodel to start or cancel, JSON bodies only."""

    permission_classes = [IsAuthenticated, ModelPermission]
    parser_classes = [JSONParser]
    serializer_class = BacktestSerializer

    def get_model(self):
        return services.get_model_or_404(self.kwargs["name"])

    def get_backtest(self, *, recover: bool = True) -> Backtest:
        model = self.get_model()
        backtest = backtests.backtest_get(model=model, backtest_id=self.kwargs["pk"], recover=recover)
        if backtest is None:
            raise NotFound(f"{model.name} has no backtest {self.kwargs['pk']}")
        return backtest

    def data(self, backtest: Backtest) -> dict:
        return BacktestSerializer(backtests.backtest_get(model=backtest.model, backtest_id=backtest.pk)).data


class BacktestListView(BacktestView):
    """The model's backtests, newest first; POST starts one."""

    required_permissions = requires(CHANGE_MODEL, "starting a backtest")

    @extend_schema(
        summary="List the model's backtests, newest first",
        tags=TAGS,
        responses={200: BacktestSerializer(many=True), **errors()},
    )
    def get(self, request, name: str) -> Response:
        items = self.paginate_queryset(backtests.backtest_list(model=self.get_model()))
        return self.get_paginated_response(BacktestSerializer(items, many=True).data)

    @extend_schema(
        summary="Start a backtest: replay a version's artifact over a range of the learn log, in the background",
        description="Answers 202 at once; follow the backtest's url (or the model's live events, type "
        '"backtest") for its progress, then its metrics beside the baseline.',
        tags=TAGS,
        request=BacktestCreateSerializer,
        responses={202: BacktestSerializer, **errors(400, 403, 409)},
    )
    def post(self, request, name: str) -> Response:
        model = self.get_model()
        serializer = BacktestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        backtest = backtests.backtest_start(model=model, user=request.user, **serializer.validated_data)
        data = self.data(backtest)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


class BacktestDetailView(BacktestView):
    @extend_schema(
        summary="A backtest: status, progress, events done, metrics beside baseline",
        tags=TAGS,
        parameters=[BACKTEST_ID],
        responses={200: BacktestSerializer, **errors()},
    )
    def get(self, request, name: str, pk: int) -> Response:
        return Response(self.data(self.get_backtest()))


class BacktestCancelView(BacktestView):
    required_permissions = requires(CHANGE_MODEL, "cancelling a backtest")

    @extend_schema(
        summary="Cancel a backtest: a queued one at once (200), a running one after its current chunk (202)",
        tags=TAGS,
        parameters=[BACKTEST_ID],
        request=None,
        responses={200: BacktestSerializer, 202: BacktestSerializer, **errors(403, 409)},
    )
    def post(self, request, name: str, pk: int) -> Response:
        backtest = backtests.backtest_cancel(backtest=self.get_backtest(recover=False), user=request.user)
        data = self.data(backtest)
        stopping = data["status"] == Backtest.Status.RUNNING
        return Response(data, status=status.HTTP_202_ACCEPTED if stopping else status.HTTP_200_OK)


urlpatterns = [
    path("models/<str:name>/backtests/", BacktestListView.as_view(), name="backtest-list"),
    path("models/<str:name>/backtests", with_slash),
    path("models/<str:name>/backtests/<int:pk>/", BacktestDetailView.as_view(), name="backtest-detail"),
    path("models/<str:name>/backtests/<int:pk>", with_slash),
    path("models/<str:name>/backtests/<int:pk>/cancel", BacktestCancelView.as_view(), name="backtest-cancel"),
]
