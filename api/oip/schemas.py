"""Request and response shapes of the Open Inference Protocol routes, for the OpenAPI schema."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ANY = serializers.JSONField


_classes: dict[str, type] = {}


def _many(shape: tuple, **kwargs):
    """A list of the tensor shape ``(name, fields)``: one serializer class per name, so the schema has one component."""
    name, fields = shape
    if name not in _classes:
        _classes[name] = type(name, (serializers.Serializer,), dict(fields))
    return _classes[name](many=True, **kwargs)


ERROR = inline_serializer("OipError", {"error": serializers.CharField(help_text="what to fix")})
ERRORS = {code: OpenApiResponse(ERROR) for code in (400, 401, 403, 404, 409, 413, 429)}

SERVER_METADATA = inline_serializer(
    "OipServerMetadata",
    {
        "name": serializers.CharField(),
        "version": serializers.CharField(),
        "extensions": serializers.ListField(child=serializers.CharField()),
    },
)
LIVE = inline_serializer("OipLive", {"live": serializers.BooleanField()})
READY = inline_serializer("OipReady", {"ready": serializers.BooleanField()})
MODEL_READY = inline_serializer("OipModelReady", {"name": serializers.CharField(), "ready": serializers.BooleanField()})

_METADATA_TENSOR = (
    "OipMetadataTensor",
    {
        "name": serializers.CharField(),
        "datatype": serializers.CharField(),
        "shape": serializers.ListField(child=serializers.IntegerField()),
    },
)
MODEL_METADATA = inline_serializer(
    "OipModelMetadata",
    {
        "name": serializers.CharField(),
        "versions": serializers.ListField(child=serializers.CharField(), help_text="live versions, production first"),
        "platform": serializers.CharField(help_text="rhythmic/<flavor>"),
        "inputs": _many(_METADATA_TENSOR),
        "outputs": _many(_METADATA_TENSOR),
    },
)

_DATATYPE = serializers.ChoiceField(
    choices=[
        "BOOL",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "UINT8",
        "UINT16",
        "UINT32",
        "UINT64",
        "FP16",
        "FP32",
        "FP64",
        "BYTES",
    ]
)
_INPUT = (
    "OipInputTensor",
    {
        "name": serializers.CharField(help_text="a feature's name"),
        "shape": serializers.ListField(child=serializers.IntegerField(min_value=0), help_text="[n] or [n, 1]"),
        "datatype": _DATATYPE,
        "data": serializers.ListField(child=ANY(), required=False, help_text="one value per row"),
        "parameters": serializers.DictField(required=False, help_text="binary_data_size: its bytes follow the JSON"),
    },
)
_REQUESTED_OUTPUT = (
    "OipRequestedOutput",
    {"name": serializers.CharField(), "parameters": serializers.DictField(required=False)},
)
INFER_REQUEST = inline_serializer(
    "OipInferRequest",
    {
        "id": serializers.CharField(required=False, help_text="echoed; row i is kept for a learn as <id>:<i>"),
        "parameters": serializers.DictField(required=False),
        "inputs": _many(_INPUT),
        "outputs": _many(_REQUESTED_OUTPUT, required=False),
    },
)
_OUTPUT = (
    "OipOutputTensor",
    {
        "name": serializers.CharField(),
        "shape": serializers.ListField(child=serializers.IntegerField()),
        "datatype": serializers.CharField(),
        "data": serializers.ListField(child=ANY(), required=False),
        "parameters": serializers.DictField(required=False),
    },
)
INFER_RESPONSE = inline_serializer(
    "OipInferResponse",
    {
        "model_name": serializers.CharField(),
        "model_version": serializers.CharField(),
        "id": serializers.CharField(required=False),
        "outputs": _many(_OUTPUT),
    },
)
LEARN_REQUEST = inline_serializer(
    "OipLearnRequest",
    {
        "id": serializers.CharField(required=False, help_text="the id of the infer request whose rows learn"),
        "parameters": serializers.DictField(required=False),
        "inputs": _many(_INPUT, help_text="a ground_truth tensor, and without an id one tensor per feature"),
        "outputs": _many(_REQUESTED_OUTPUT, required=False),
    },
)
LEARN_RESPONSE = inline_serializer(
    "OipLearnResponse",
    {
        "model_name": serializers.CharField(),
        "model_version": serializers.CharField(),
        "id": serializers.CharField(required=False),
        "outputs": _many(_OUTPUT, help_text="seq: each row's position in the learn log"),
    },
)
