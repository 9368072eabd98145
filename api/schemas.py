"""Request and response shapes of the serving routes, for the OpenAPI schema (the core validates input)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from api.serializers import ErrorSerializer
from catalogue.flavors import MAX_HORIZON

ERROR = ErrorSerializer
ERRORS = {code: OpenApiResponse(ERROR) for code in (400, 401, 403, 404, 409, 413, 429)}

ANY = serializers.JSONField
PREDICT_REQUEST = inline_serializer(
    "PredictRequest",
    {
        "features": ANY(
            required=False,
            help_text="an object of features; for a forecasting model, an optional list of one object per step",
        ),
        "id": ANY(required=False),
        "horizon": serializers.IntegerField(
            required=False, min_value=1, max_value=MAX_HORIZON, help_text="forecasting models: how many steps ahead"
        ),
    },
)
RANK_REQUEST = inline_serializer(
    "RankRequest",
    {
        "user": ANY(help_text="the user's id (a string or an integer)"),
        "items": serializers.ListField(child=ANY(), help_text="the item ids to rank"),
        "context": serializers.DictField(required=False, help_text="other features, for contextual recommenders"),
    },
)
RANKING = inline_serializer(
    "Ranking",
    {
        "model": serializers.CharField(),
        "version": serializers.IntegerField(),
        "user": ANY(),
        "items": serializers.ListField(child=ANY(), help_text="best first"),
        "state_seq": serializers.IntegerField(),
    },
)
PREDICTION = inline_serializer(
    "Prediction",
    {
        "model": serializers.CharField(),
        "version": serializers.IntegerField(),
        "prediction": ANY(),
        "state_seq": serializers.IntegerField(),
        "id": ANY(required=False),
    },
)
LEARN_REQUEST = inline_serializer(
    "LearnRequest",
    {"ground_truth": ANY(required=False), "id": ANY(required=False), "features": serializers.DictField(required=False)},
)
LEARNED = inline_serializer(
    "Learned",
    {
        "model": serializers.CharField(),
        "version": serializers.IntegerField(),
        "seq": serializers.IntegerField(),
        "prediction": ANY(),
        "ground_truth": ANY(),
        "id": ANY(required=False),
    },
)
BATCH_RESULTS = inline_serializer("BatchResults", {"results": serializers.ListField(child=ANY())})
METRICS = inline_serializer(
    "OnlineMetrics",
    {
        "model": serializers.CharField(),
        "version": serializers.IntegerField(),
        "state_seq": serializers.IntegerField(),
        "n_learned": serializers.IntegerField(),
        "n_scored": serializers.IntegerField(),
        "n_not_scored": serializers.IntegerField(help_text="labelled predictions left out: a number not finite"),
        "n_learn_errors": serializers.IntegerField(help_text="log entries the model raised on when learning"),
        "metrics": serializers.DictField(
            child=ANY(),
            help_text="{metric: value}; a forecasting model's values are lists, one per step of its horizon",
        ),
        "labels": inline_serializer(
            "LabelCoverage",
            {
                "labelled": serializers.IntegerField(),
                "expired": serializers.IntegerField(),
                "coverage": serializers.FloatField(allow_null=True),
            },
        ),
    },
)
STATS = inline_serializer("RouteStats", {"predict": serializers.DictField(), "learn": serializers.DictField()})
SNAPSHOT_REQUEST = inline_serializer("SnapshotRequest", {"message": serializers.CharField(required=False)})
SNAPSHOT = inline_serializer(
    "Snapshot",
    {
        "model": serializers.CharField(),
        "version": serializers.IntegerField(),
        "parent": serializers.IntegerField(),
        "status": serializers.CharField(),
    },
)

# chantilly's shapes
FLAVOR = inline_serializer("ChantillyFlavor", {"flavor": serializers.CharField()})
NAME = inline_serializer("ChantillyName", {"name": serializers.CharField()})
MODELS = inline_serializer(
    "ChantillyModels",
    {"models": serializers.ListField(child=serializers.CharField()), "default": serializers.CharField(allow_null=True)},
)
COMPAT_PREDICT_REQUEST = inline_serializer(
    "ChantillyPredictRequest",
    {"features": serializers.DictField(), "id": ANY(required=False), "model": serializers.CharField(required=False)},
)
COMPAT_PREDICTION = inline_serializer("ChantillyPrediction", {"model": serializers.CharField(), "prediction": ANY()})
COMPAT_LEARN_REQUEST = inline_serializer(
    "ChantillyLearnRequest",
    {
        "ground_truth": ANY(),
        "id": ANY(required=False),
        "features": serializers.DictField(required=False),
        "model": serializers.CharField(required=False),
    },
)
EMPTY = inline_serializer("Empty", {})
METRIC_VALUES = OpenApiTypes.OBJECT  # {MetricName: value}
BINARY = OpenApiTypes.BINARY
