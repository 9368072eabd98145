"""Serializers and schemas of the pipeline routes (api/views/pipelines.py): input types, output shapes.

The catalogue checks the stages' values (catalogue.pipelines.clean_stages) and the serving core the features,
ids and ground truths, so the input serializers check only types and reject unknown fields.
"""

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from api.serializers import StrictSerializer, TextField
from catalogue import pipelines
from catalogue.pipeline_models import Pipeline, PipelineDeployment, PipelineVersion

# --- catalogue -------------------------------------------------------------------------------


#: Schema of a stage (catalogue.pipelines.clean_stages checks the values); built with type() since "as" is a keyword.
StageSerializer = type(
    "StageSerializer",
    (serializers.Serializer,),
    {
        "model": serializers.CharField(help_text="a model of the catalogue; its production version serves the stage"),
        "as": serializers.CharField(
            required=False, help_text="the feature name under which the later stages see this stage's output"
        ),
    },
)


class StagesField(serializers.ListField):
    """The stages as sent; their values are checked by the catalogue."""

    child = StageSerializer()

    def to_internal_value(self, data):
        return data  # clean_stages names the bad stage (stages[1].as) in the one error shape


class PipelineCreateSerializer(StrictSerializer):
    name = TextField(max_length=100, help_text="1-100 lowercase letters, digits, '-' or '_'")
    stages = StagesField(help_text='[{"model": "scorer", "as": "score"}, {"model": "classifier"}]')
    description = TextField(required=False, allow_blank=True, default="")
    message = TextField(required=False, allow_blank=True, default="", max_length=500)


class PipelineVersionCreateSerializer(StrictSerializer):
    stages = StagesField()
    message = TextField(required=False, allow_blank=True, default="", max_length=500)


class PipelineVersionSerializer(serializers.ModelSerializer):
    stages = serializers.ListField(child=StageSerializer(), read_only=True)
    author = serializers.CharField(source="author.username", read_only=True, default=None)

    class Meta:
        model = PipelineVersion
        fields = ["number", "stages", "message", "author", "created_at"]
        read_only_fields = fields


class PipelineDeploymentSerializer(serializers.ModelSerializer):
    pipeline = serializers.CharField(source="pipeline.name", read_only=True)
    from_version = serializers.IntegerField(source="from_version.number", read_only=True, default=None)
    to_version = serializers.IntegerField(source="to_version.number", read_only=True, default=None)
    user = serializers.CharField(source="user.username", read_only=True, default=None)

    class Meta:
        model = PipelineDeployment
        fields = ["pipeline", "action", "from_version", "to_version", "user", "note", "created_at"]
        read_only_fields = fields


class PipelineSerializer(serializers.ModelSerializer):
    production_version = PipelineVersionSerializer(read_only=True, allow_null=True)
    owner = serializers.CharField(source="owner.username", read_only=True, default=None)

    class Meta:
        model = Pipeline
        fields = ["name", "description", "production_version", "owner", "created_at", "updated_at"]
        read_only_fields = fields


class PipelineDetailSerializer(PipelineSerializer):
    versions = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    class Meta(PipelineSerializer.Meta):
        fields = [*PipelineSerializer.Meta.fields, "versions", "history"]
        read_only_fields = fields

    @extend_schema_field(PipelineVersionSerializer(many=True))
    def get_versions(self, pipeline) -> list[dict]:
        return PipelineVersionSerializer(pipelines.pipeline_versions(pipeline=pipeline), many=True).data

    @extend_schema_field(PipelineDeploymentSerializer(many=True))
    def get_history(self, pipeline) -> list[dict]:
        return PipelineDeploymentSerializer(pipelines.pipeline_history(pipeline=pipeline), many=True).data


ANY = serializers.JSONField
STAGE_PREDICTION = inline_serializer(
    "StagePrediction",
    {
        "model": serializers.CharField(),
        "version": serializers.IntegerField(),
        "prediction": ANY(),
        "state_seq": serializers.IntegerField(),
    },
)
STAGE_LEARNED = inline_serializer(
    "StageLearned",
    {
        "model": serializers.CharField(),
        "version": serializers.IntegerField(),
        "seq": serializers.IntegerField(),
        "prediction": ANY(),
        "ground_truth": ANY(),
    },
)
PREDICT_REQUEST = inline_serializer(
    "PipelinePredictRequest",
    {
        "features": serializers.DictField(),
        "id": ANY(required=False, help_text="an integer or a string; each stage keeps it as <pipeline>:<id>"),
    },
)
PREDICTION = inline_serializer(
    "PipelinePrediction",
    {
        "pipeline": serializers.CharField(),
        "version": serializers.IntegerField(help_text="the pipeline version that answered"),
        "prediction": ANY(help_text="the last stage's prediction"),
        "stages": serializers.DictField(child=STAGE_PREDICTION, help_text="each stage's answer, by model name"),
        "id": ANY(required=False),
    },
)
LEARN_REQUEST = inline_serializer(
    "PipelineLearnRequest",
    {
        "id": ANY(help_text="the id given to the pipeline's predict"),
        "ground_truth": ANY(
            required=False,
            help_text='the last stage\'s ground truth, or one per stage model: {"scorer": true, "classifier": false}',
        ),
    },
)
LEARNED = inline_serializer(
    "PipelineLearned",
    {
        "pipeline": serializers.CharField(),
        "version": serializers.IntegerField(),
        "id": ANY(),
        "stages": serializers.DictField(child=STAGE_LEARNED, help_text="each stage that learned, by model name"),
    },
)
