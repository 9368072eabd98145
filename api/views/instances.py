"""REST views of production instances under /api/v1/instances/: the server processes registered with their
heartbeat, location, kind, runtime and loaded models (serving.instances). Reads only; a login is enough.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from api.routes import collection
from api.serializers import ErrorSerializer
from api.views.catalogue import ERRORS, CatalogueView
from catalogue.errors import InvalidInput, NotFound
from serving import instances
from serving.models import Instance

TAGS = ["instances"]
NO_INSTANCE = OpenApiResponse(ErrorSerializer, description="no such instance (pruned, or never registered)")


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {
                "versions": {"type": "array", "items": {"type": "integer"}},
                "applied_seq": {"type": "integer"},
                "lag": {"type": "integer", "description": "learn-log entries behind the model's head"},
            },
        },
        "example": {"housing": {"versions": [3], "applied_seq": 120, "lag": 0}},
    }
)
class LoadedModelsField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "python": {"type": "string"},
            "packages": {"type": "object", "additionalProperties": {"type": "string"}},
            "ping": {"type": "object", "description": "the last ping's id, when one arrived"},
        },
        "example": {"python": "3.11.7", "packages": {"river": "0.22.0", "scikit-learn": "1.5.2"}},
    }
)
class RuntimeField(serializers.JSONField):
    pass


class InstanceSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    runtime = RuntimeField(help_text="Python and every installed package (normalized names), as it started")
    models = LoadedModelsField(help_text="per loaded model, as of its last beat")

    class Meta:
        model = Instance
        fields = [
            "key",
            "host",
            "pid",
            "kind",
            "location",
            "status",
            "started_at",
            "last_beat",
            "stopped_at",
            "runtime",
            "models",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=instances.STATUSES))
    def get_status(self, instance: Instance) -> str:
        return instances.status_of(instance)


class InstanceListView(CatalogueView):
    serializer_class = InstanceSerializer

    @extend_schema(
        summary="List the production instances: every server process, with its heartbeat and loaded models",
        description=(
            "An instance is `lost` after RHYTHMIC_INSTANCE_LOST_BEATS missed heartbeats and `stopped` once it "
            "shut down cleanly; rows are pruned RHYTHMIC_INSTANCE_PRUNE_SECONDS after their last beat. "
            "`?location=` lists the location's instances and those that serve every location."
        ),
        tags=TAGS,
        parameters=[
            OpenApiParameter("location", OpenApiTypes.STR, description="a location's name"),
            OpenApiParameter("status", OpenApiTypes.STR, enum=list(instances.STATUSES)),
        ],
        responses={200: InstanceSerializer(many=True), 400: ERRORS[400], 401: ERRORS[401], 429: ERRORS[429]},
    )
    def get(self, request) -> Response:
        status = request.query_params.get("status")
        if status is not None and status not in instances.STATUSES:
            choices = ", ".join(instances.STATUSES)
            raise InvalidInput(f"status must be one of {choices}; got {status!r}", field="status")
        found = instances.instance_list(location=request.query_params.get("location"), status=status)
        return self.page(found, InstanceSerializer)


class InstanceDetailView(CatalogueView):
    serializer_class = InstanceSerializer

    @extend_schema(
        summary="One production instance, by its key (host:pid:token)",
        tags=TAGS,
        parameters=[OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH, description="host:pid:token")],
        responses={200: InstanceSerializer, 401: ERRORS[401], 404: NO_INSTANCE, 429: ERRORS[429]},
    )
    def get(self, request, key: str) -> Response:
        instance = instances.instance_get(key=key)
        if instance is None:
            raise NotFound(f"no instance {key!r} (it may have been pruned: GET /api/v1/instances/ lists them)")
        return Response(InstanceSerializer(instance).data)


urlpatterns = [
    *collection("instances/", InstanceListView, "instance-list"),
    *collection("instances/<str:key>/", InstanceDetailView, "instance-detail"),
]
