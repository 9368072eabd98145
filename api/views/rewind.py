"""REST view of rewinding a version's live state: POST .../versions/{n}/rewind (or a dry run), GET its history."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from api.permissions import requires
from api.serializers import StrictSerializer, TextField
from api.views.catalogue import CHANGE_MODEL, NUMBER, VersionActionView, errors
from serving import rewind as rewinds
from serving.inference import metrics
from serving.models import Rewind

TAGS = ["serving"]


class RewindRequestSerializer(StrictSerializer):
    to_seq = serializers.IntegerField(
        required=False, min_value=0, help_text="back to the state right after this log entry"
    )
    skip = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        help_text="instead: the log entries to leave out (the version learns the others again)",
    )
    dry_run = serializers.BooleanField(required=False, default=False, help_text="preview only: change nothing")
    reason = TextField(required=False, allow_blank=True, max_length=500, default="")


class RewindSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    user = serializers.CharField(source="user.username", read_only=True, default=None)

    class Meta:
        model = Rewind
        fields = ["id", "model", "version", "to_seq", "skip", "head_seq", "n_undone", "user", "reason", "created_at"]
        read_only_fields = fields


class StateSerializer(serializers.Serializer):
    state_seq = serializers.IntegerField()
    n_learned = serializers.IntegerField()
    metrics = serializers.DictField(child=serializers.FloatField(allow_null=True))


class RewoundSerializer(RewindSerializer):
    after = StateSerializer(read_only=True, help_text="the version's state now, in this process")

    class Meta(RewindSerializer.Meta):
        fields = [*RewindSerializer.Meta.fields, "after"]
        read_only_fields = fields


class PreviewSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField()
    to_seq = serializers.IntegerField(allow_null=True)
    skip = serializers.ListField(child=serializers.IntegerField())
    head_seq = serializers.IntegerField()
    n_undone = serializers.IntegerField(help_text="the version's learned entries the rewind would undo")
    now = StateSerializer()
    after = StateSerializer(help_text="rebuilt from the nearest checkpoint and the log, not saved")


class RewindView(VersionActionView):
    """Undo what a version learned from poisoned entries; every serving process reloads it."""

    serializer_class = RewindSerializer
    required_permissions = requires(CHANGE_MODEL, "rewinding a version")

    @extend_schema(
        summary="Rewind a version's live state to a log entry, or without some entries (dry_run: preview)",
        description=(
            'Send {"to_seq": s} to bring the version back to its state right after log entry s (nearest '
            'checkpoint, then replay), or {"skip": [seq, ...]} to replay it without those entries. The '
            "entries stay in the log, skipped for that version; every process reloads it. With "
            '"dry_run": true nothing changes: the answer says how many entries would be undone and the '
            "metrics now beside after. Metrics after a skip keep the predictions that were served."
        ),
        tags=TAGS,
        parameters=[NUMBER],
        request=RewindRequestSerializer,
        responses={
            201: OpenApiResponse(RewoundSerializer, description="rewound (recorded in the rewind history)"),
            200: OpenApiResponse(PreviewSerializer, description="dry run: what the rewind would do"),
            **errors(400, 403, 409),
        },
    )
    def post(self, request, name: str, number: str) -> Response:
        fields = self.valid(RewindRequestSerializer, request.data)
        model, version = self.get_model(), self.get_version()
        point = {"to_seq": fields.get("to_seq"), "skip": fields.get("skip")}
        if fields["dry_run"]:
            preview = rewinds.version_rewind_preview(model=model, version=version, **point)
            return Response(PreviewSerializer(preview).data)
        rewind = rewinds.version_rewind(
            model=model, version=version, **point, user=request.user, reason=fields["reason"]
        )
        rewind.after = metrics(model=model.name, version=version.number)
        return Response(RewoundSerializer(rewind).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="The version's rewinds, newest first",
        tags=TAGS,
        parameters=[NUMBER],
        responses={200: RewindSerializer(many=True), **errors(400)},
    )
    def get(self, request, name: str, number: str) -> Response:
        version = self.get_version()
        return self.page(rewinds.rewind_list(model=version.model, version=version), RewindSerializer)
