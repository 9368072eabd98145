"""Serializers of the catalogue API: the shapes of responses, and type checks of request bodies.

Input serializers only check types and reject unknown fields; the catalogue services validate values
(names, flavors, metadata, locations) and write.
"""

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api import parsers
from catalogue import artifacts
from catalogue.flavors import FLAVORS
from catalogue.models import Deployment, Location, MLModel, ModelVersion

# --- input -------------------------------------------------------------------------------------


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo ("mesage") is an error rather than silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                accepted = ", ".join(self.fields)
                raise serializers.ValidationError(
                    {name: [f"unknown field; this request accepts: {accepted}"] for name in unknown}
                )
        return super().to_internal_value(data)


class TextField(serializers.CharField):
    """A string, and only a string: DRF's CharField would quietly turn 5 or true into text."""

    default_error_messages = {"invalid": "must be a string"}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}, "example": {"team": "fraud"}})
class MetadataField(serializers.JSONField):
    """``key: value`` strings; a JSON object, or its JSON text in forms and query strings."""

    def to_internal_value(self, data):
        return _json_object_text(data, self, example='{"team": "fraud"}')


@extend_schema_field({"type": "object", "additionalProperties": True, "example": {"x": 1.5}})
class JSONObjectField(serializers.JSONField):
    """A JSON object, or its JSON text in forms and query strings."""

    def to_internal_value(self, data):
        return _json_object_text(data, self, example='{"x": 1.5}')


def _json_object_text(data: Any, field: serializers.Field, *, example: str) -> Any:
    """Decode JSON text from a form or query string; the services check the decoded value's shape."""
    if isinstance(data, str):
        try:
            data = parsers.loads(data)
        except parsers.InvalidJSON as exc:
            message = f"must be a JSON object, like {example}; got {data[:80]!r} ({exc})"
            raise serializers.ValidationError(message) from None
    if not isinstance(data, dict):
        raise serializers.ValidationError(f"must be a JSON object, like {example}")
    return data


class ModelCreateSerializer(StrictSerializer):
    name = TextField(max_length=100, help_text="1-100 lowercase letters, digits, '-' or '_'")
    flavor = serializers.ChoiceField(
        choices=list(FLAVORS),
        error_messages={"invalid_choice": f"must be one of: {', '.join(FLAVORS)}; got {{input!r}}"},
    )
    description = TextField(required=False, allow_blank=True, default="")
    metadata = MetadataField(required=False, default=dict)
    location = TextField(
        required=False, allow_null=True, default=None, help_text="a location name; unset: the default one"
    )
    options = JSONObjectField(
        required=False,
        default=None,
        help_text="the flavor's options, fixed for the model's life: forecasting takes {\"horizon\": H} (default 12)",
    )


class ModelUpdateSerializer(StrictSerializer):
    description = TextField(required=False, allow_blank=True)
    metadata = MetadataField(required=False)
    location = TextField(required=False, allow_null=True, help_text="a location name, or null for none")


class NoteSerializer(StrictSerializer):
    note = TextField(required=False, allow_blank=True, max_length=500, default="")


class VersionUploadSerializer(StrictSerializer):
    """The fields of an upload: multipart form fields, or query parameters beside a raw body."""

    file = serializers.FileField(required=False, help_text="the artifact (multipart uploads)")
    format = serializers.ChoiceField(
        choices=ModelVersion.Format.choices,
        required=False,
        error_messages={"invalid_choice": f"must be one of: {', '.join(artifacts.FORMATS)}; got {{input!r}}"},
        help_text="unset: guessed from the bytes",
    )
    message = TextField(required=False, allow_blank=True, max_length=500, default="")
    description = TextField(required=False, allow_blank=True, default="")
    requirements = TextField(required=False, allow_blank=True, trim_whitespace=False, help_text="requirements.txt text")
    requirements_file = serializers.FileField(required=False, help_text="a requirements.txt file (multipart)")
    metadata = MetadataField(required=False, default=dict)
    input_example = JSONObjectField(required=False, default=None, help_text="features of one example")
    parent = serializers.IntegerField(
        required=False, min_value=1, help_text="the number of the version it derives from"
    )

    def validate(self, attrs):
        if "requirements" in attrs and "requirements_file" in attrs:
            raise serializers.ValidationError(
                {"requirements_file": ["send requirements as text or as a file, not both"]}
            )
        upload = attrs.pop("requirements_file", None)
        if upload is not None:
            try:
                attrs["requirements"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise serializers.ValidationError(
                    {"requirements_file": ["must be UTF-8 text in requirements.txt form"]}
                ) from None
        return attrs


class LocationCreateSerializer(StrictSerializer):
    name = TextField(max_length=100)
    description = TextField(required=False, allow_blank=True, default="")
    is_default = serializers.BooleanField(required=False, default=False)


# --- output ------------------------------------------------------------------------------------


class VersionSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["number", "status", "format", "sha256", "size", "message", "created_at"]
        read_only_fields = fields


class TrainedOnSerializer(serializers.Serializer):
    """The dataset a training job trained a version on."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class VersionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True, default=None)
    parent = serializers.IntegerField(source="parent.number", read_only=True, default=None)
    is_live = serializers.SerializerMethodField()
    dataset = TrainedOnSerializer(read_only=True, allow_null=True, help_text="set when a training job made it")
    params = serializers.DictField(read_only=True, help_text="the parameters a training job trained it with")
    training_metrics = serializers.DictField(
        read_only=True, help_text="the training job's metrics (river: prequential; scikit-learn: holdout)"
    )

    class Meta:
        model = ModelVersion
        fields = [
            "model",
            "number",
            "status",
            "is_live",
            "format",
            "sha256",
            "size",
            "message",
            "description",
            "requirements",
            "metadata",
            "input_example",
            "author",
            "parent",
            "dataset",
            "params",
            "training_metrics",
            "created_at",
            "validated_at",
            "non_finite_seq",
            "non_finite_at",
        ]
        read_only_fields = fields

    def get_is_live(self, version: ModelVersion) -> bool:
        return version.model.production_version_id == version.pk


class VersionDetailSerializer(VersionSerializer):
    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "validation_report"]
        read_only_fields = fields


class LatestVersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ModelVersion.Status.choices)


class ModelSerializer(serializers.ModelSerializer):
    location = serializers.CharField(source="location.name", read_only=True, default=None)
    owner = serializers.CharField(source="owner.username", read_only=True, default=None)
    metadata = MetadataField(read_only=True)
    production_version = VersionSummarySerializer(read_only=True, allow_null=True)
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = MLModel
        fields = [
            "name",
            "flavor",
            "description",
            "metadata",
            "options",
            "location",
            "owner",
            "production_version",
            "latest_version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(LatestVersionSerializer(allow_null=True))
    def get_latest_version(self, model: MLModel) -> dict | None:
        """From the annotations of ``selectors.model_list_with_latest``, else one query."""
        if hasattr(model, "latest_version_number"):
            number, status = model.latest_version_number, model.latest_version_status
        else:
            latest = model.versions.without_artifact().order_by("-number").values("number", "status").first()
            number, status = (latest["number"], latest["status"]) if latest else (None, None)
        return None if number is None else {"number": number, "status": status}


class DeploymentSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name", read_only=True)
    from_version = serializers.IntegerField(source="from_version.number", read_only=True, default=None)
    to_version = serializers.IntegerField(source="to_version.number", read_only=True, default=None)
    user = serializers.CharField(source="user.username", read_only=True, default=None)

    class Meta:
        model = Deployment
        fields = ["model", "action", "from_version", "to_version", "user", "note", "automatic", "reason", "created_at"]
        read_only_fields = fields


class LocationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Location
        fields = ["name", "description", "is_default", "created_at"]
        read_only_fields = fields


# Schema only: the multipart form of an upload (the raw-body form takes the same fields as query parameters).
class VersionUploadFormSerializer(VersionUploadSerializer):
    file = serializers.FileField(help_text="the artifact")


# --- errors (schema only: api.errors produces them) ---------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="machine-readable: invalid, not_found, conflict, too_large, …")
    message = serializers.CharField(help_text="what went wrong and what to fix")
    field = serializers.CharField(allow_null=True, help_text="the input field concerned, if any")
    details = serializers.JSONField(required=False, help_text="a refused body's messages, per field")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()
