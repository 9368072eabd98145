"""REST views of a model's challengers and canary under /api/v1/models/{name}/: thin calls into catalogue services,
with each version's online metrics (the body of GET .../metrics?version=n) beside production's."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

import serving
from api import schemas
from api.parsers import JSONParser
from api.serializers import StrictSerializer, TextField
from api.views.catalogue import CHANGE_MODEL, CatalogueView, errors
from catalogue import selectors, services
from catalogue.errors import InvalidInput
from catalogue.models import Challenger, MLModel

TAGS = ["lifecycle"]
WRITE_ERRORS = errors(400, 403, 409)


@extend_schema_field({"type": "integer", "minimum": 1, "example": 2})
class VersionNumberField(serializers.Field):
    """A version number as a JSON integer (not "3", 3.5 or true)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int) or data < 1:
            raise serializers.ValidationError(f"must be a version number (a whole number from 1), not {data!r}")
        return data

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 100, "example": 10})
class PercentField(serializers.JSONField):
    """Any JSON value: the service says what a percent must be (above 0, at most 100)."""


class ChallengerAddSerializer(StrictSerializer):
    version = VersionNumberField(help_text="the number of a ready version that is not in production")
    note = TextField(required=False, allow_blank=True, max_length=500, default="")


class CanarySetSerializer(StrictSerializer):
    version = VersionNumberField(help_text="the number of a ready version that is not in production")
    percent = PercentField(help_text="the share of predictions it answers, above 0 and at most 100")
    note = TextField(required=False, allow_blank=True, max_length=500, default="")


def _nullable_metrics():
    """The OnlineMetrics component, or null (a model without production, no canary)."""
    return type(schemas.METRICS)(allow_null=True)


CHALLENGER = inline_serializer(
    "Challenger",
    {
        "version": serializers.IntegerField(),
        "added_at": serializers.DateTimeField(),
        "added_by": serializers.CharField(allow_null=True),
        "metrics": schemas.METRICS,
    },
)
CHALLENGERS = inline_serializer(
    "Challengers",
    {
        "model": serializers.CharField(),
        "production": _nullable_metrics(),
        "challengers": type(CHALLENGER)(many=True),
    },
)
CANARY = inline_serializer(
    "Canary",
    {
        "model": serializers.CharField(),
        "version": serializers.IntegerField(allow_null=True, help_text="null: no canary"),
        "percent": serializers.FloatField(),
        "metrics": _nullable_metrics(),
        "production": _nullable_metrics(),
    },
)
NUMBER = OpenApiParameter("number", OpenApiTypes.INT, OpenApiParameter.PATH, description="the challenger's number")


def _metrics(model: MLModel, number: int | None) -> dict | None:
    """GET .../metrics?version=n's body; None for production when the model has none."""
    if number is None and model.production_version_id is None:
        return None
    return serving.metrics(model=model.name, version=number)


def _challenger_data(challenger: Challenger) -> dict:
    return {
        "version": challenger.version.number,
        "added_at": challenger.added_at,
        "added_by": challenger.added_by.username if challenger.added_by else None,
        "metrics": serving.metrics(model=challenger.model.name, version=challenger.version.number),
    }


def _canary_data(model: MLModel) -> dict:
    model = services.get_model_or_404(model.name)  # as stored now
    canary = selectors.canary_version(model=model)
    return {
        "model": model.name,
        "version": canary.number if canary else None,
        "percent": model.canary_percent if canary else 0.0,
        "metrics": _metrics(model, canary.number) if canary else None,
        "production": _metrics(model, None),
    }


class ChallengerListView(CatalogueView):
    """Challengers predict and learn every event beside production but never answer; promoting one keeps what
    it learned."""

    parser_classes = [JSONParser]
    required_permissions = {"POST": (CHANGE_MODEL, "adding a challenger")}

    @extend_schema(
        summary="The model's challengers, each with its online metrics beside production's",
        tags=TAGS,
        responses={200: CHALLENGERS, **errors()},
    )
    def get(self, request, name: str) -> Response:
        model = self.get_model()
        challengers = selectors.challenger_list(model=model)
        return Response(
            {
                "model": model.name,
                "production": _metrics(model, None),
                "challengers": [_challenger_data(c) for c in challengers],
            }
        )

    @extend_schema(
        summary="Add a ready version as a challenger (recorded in the deployment history)",
        tags=TAGS,
        request=ChallengerAddSerializer,
        responses={201: CHALLENGER, **WRITE_ERRORS},
    )
    def post(self, request, name: str) -> Response:
        data = self.valid(ChallengerAddSerializer, _body(request))
        version = services.get_version_or_404(self.get_model(), data["version"])
        challenger = services.challenger_add(version=version, user=request.user, note=data["note"])
        challenger = selectors.challenger_list(model=challenger.model).get(pk=challenger.pk)
        return Response(_challenger_data(challenger), status=status.HTTP_201_CREATED)


class ChallengerDetailView(CatalogueView):
    required_permissions = {"DELETE": (CHANGE_MODEL, "removing a challenger")}

    @extend_schema(
        summary="Stop a challenger: it no longer predicts or learns",
        tags=TAGS,
        parameters=[NUMBER],
        request=None,
        responses={204: None, **WRITE_ERRORS},
    )
    def delete(self, request, name: str, number: str) -> Response:
        services.challenger_remove(version=self.get_version(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CanaryView(CatalogueView):
    """A canary answers a share of predictions, sticky by id (a hash of it; without an id, at random), and
    learns every event as production does."""

    parser_classes = [JSONParser]
    required_permissions = {
        "PUT": (CHANGE_MODEL, "setting a canary"),
        "DELETE": (CHANGE_MODEL, "ending a canary"),
    }

    @extend_schema(summary="The model's canary (version null: none)", tags=TAGS, responses={200: CANARY, **errors()})
    def get(self, request, name: str) -> Response:
        return Response(_canary_data(self.get_model()))

    @extend_schema(
        summary="Send a share of predictions to a version (recorded in the deployment history)",
        tags=TAGS,
        request=CanarySetSerializer,
        responses={200: CANARY, **WRITE_ERRORS},
    )
    def put(self, request, name: str) -> Response:
        data = self.valid(CanarySetSerializer, _body(request))
        model = self.get_model()
        version = services.get_version_or_404(model, data["version"])
        services.canary_set(version=version, percent=data["percent"], user=request.user, note=data["note"])
        return Response(_canary_data(model))

    @extend_schema(
        summary="End the canary: production answers every prediction again",
        tags=TAGS,
        request=None,
        responses={204: None, **WRITE_ERRORS},
    )
    def delete(self, request, name: str) -> Response:
        services.canary_end(model=self.get_model(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise InvalidInput('the body must be a JSON object, like {"version": 2}')
    return request.data
