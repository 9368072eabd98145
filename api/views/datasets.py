"""REST views of datasets under /api/v1/datasets/: upload a CSV or JSON Lines file, build one from a model's
learn log, list, read (with a preview of the first rows), delete.

Each view checks input types with a serializer, calls one service (``catalogue.datasets.services``, or
``serving.datasets`` for a learn-log dataset) and formats the result. api/urls.py includes ``urlpatterns``.
"""

from django.urls import path, reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response

from api.parsers import JSONParser, MultiPartParser
from api.routes import with_slash
from api.serializers import ErrorSerializer, JSONObjectField, StrictSerializer, TextField
from api.views.catalogue import CatalogueView
from catalogue import services
from catalogue.datasets import dataset_preview, selectors
from catalogue.datasets import services as dataset_services
from catalogue.errors import InvalidInput, NotFound
from catalogue.models import Dataset
from serving.datasets import dataset_from_log

TAGS = ["datasets"]
PREVIEW_ROWS = 20
ERRORS = {
    code: OpenApiResponse(ErrorSerializer, description=description)
    for code, description in (
        (400, "bad input, or a bad file: the message names the line and the column"),
        (401, "not logged in (send Authorization: Token <key>)"),
        (403, "missing the permission the message names"),
        (404, "no such dataset (or model)"),
        (409, "a dataset has that name, the log range is empty, or versions were trained on it"),
        (413, "the file passes RHYTHMIC_MAX_DATASET_BYTES"),
        (415, "neither a multipart form nor JSON"),
        (429, "throttled: retry after Retry-After seconds"),
    )
}
DATASET_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="the dataset's id")


def errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in (401, 429, *codes)}


# --- input ---------------------------------------------------------------------------------------


class DatasetUploadSerializer(StrictSerializer):
    """The multipart form of an upload."""

    file = serializers.FileField(help_text="a CSV file (the first row names the columns) or JSON Lines")
    name = TextField(max_length=100, help_text="1-100 lowercase letters, digits, '-' or '_'")
    target = TextField(help_text="the column holding the ground truth; every other column is a feature")
    description = TextField(required=False, allow_blank=True, default="")
    format = serializers.ChoiceField(
        choices=Dataset.Format.choices,
        required=False,
        help_text="unset: from the file name (.csv, .jsonl), else its content",
    )
    types = JSONObjectField(
        required=False,
        default=None,
        help_text='column types instead of inferred ones, as JSON text: {"zip": "string"} (number, boolean, string)',
    )


class DatasetFromLogSerializer(StrictSerializer):
    """The JSON body that builds a dataset from a model's learn log."""

    name = TextField(max_length=100, help_text="1-100 lowercase letters, digits, '-' or '_'")
    from_model = TextField(max_length=100, help_text="the model whose learn log is read")
    from_seq = serializers.IntegerField(required=False, min_value=1, help_text="the first entry (default 1)")
    to_seq = serializers.IntegerField(required=False, min_value=1, help_text="the last entry (default: the head now)")
    description = TextField(required=False, allow_blank=True, default="")


# --- output --------------------------------------------------------------------------------------


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(
        choices=["number", "boolean", "string", "json"],
        help_text='inferred (or declared); "json": a learn-log column of lists, objects or mixed values',
    )
    missing = serializers.IntegerField(help_text="rows without a value (empty cell, null or absent key)")


class DatasetSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    columns = ColumnSerializer(many=True, read_only=True)
    source_model = serializers.CharField(source="source_model.name", read_only=True, default=None)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "url",
            "name",
            "description",
            "format",
            "target",
            "rows",
            "columns",
            "size",
            "sha256",
            "source_model",
            "from_seq",
            "to_seq",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_url(self, dataset: Dataset) -> str:
        return reverse("api:dataset-detail", kwargs={"pk": dataset.pk})


class DatasetDetailSerializer(DatasetSerializer):
    preview = serializers.SerializerMethodField(help_text=f"the first {PREVIEW_ROWS} rows, null where missing")

    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "preview"]
        read_only_fields = fields

    def get_preview(self, dataset: Dataset) -> list[dict]:
        return dataset_preview(dataset, limit=PREVIEW_ROWS)


# --- views ---------------------------------------------------------------------------------------


class DatasetView(CatalogueView):
    """Login for reads, catalogue.add_dataset to create, catalogue.delete_dataset to delete."""

    serializer_class = DatasetSerializer

    def get_dataset(self, *, with_content: bool = False) -> Dataset:
        dataset = selectors.dataset_get(dataset_id=self.kwargs["pk"], with_content=with_content)
        if dataset is None:
            raise NotFound(f"no dataset {self.kwargs['pk']}")
        return dataset


class DatasetListView(DatasetView):
    parser_classes = [MultiPartParser, JSONParser]
    required_permissions = {"POST": ("catalogue.add_dataset", "creating a dataset")}

    @extend_schema(
        summary="List the datasets, newest first",
        tags=TAGS,
        responses={200: DatasetSerializer(many=True), **errors(400)},
    )
    def get(self, request) -> Response:
        return self.page(selectors.dataset_list(), DatasetSerializer)

    @extend_schema(
        summary="Create a dataset: upload a CSV or JSON Lines file, or build one from a model's learn log",
        description=(
            "A multipart form (`file`, `name`, `target`) stores the file with its schema; a JSON body "
            '`{"name", "from_model", "from_seq"?, "to_seq"?}` stores the model\'s learn-log entries (features, '
            "and the ground truth as column `ground_truth`), in log order, without the entries a rewind put aside."
        ),
        tags=TAGS,
        request={"multipart/form-data": DatasetUploadSerializer, "application/json": DatasetFromLogSerializer},
        responses={201: DatasetSerializer, **errors(400, 403, 404, 409, 413, 415)},
    )
    def post(self, request) -> Response:
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            dataset = self._upload(request)
        elif content_type == "application/json":
            fields = self.valid(DatasetFromLogSerializer, request.data)
            model = services.get_model_or_404(fields.pop("from_model"))
            dataset = dataset_from_log(model=model, user=request.user, **fields)
        else:
            raise UnsupportedMediaType(
                content_type,
                detail=f"cannot read {content_type}: send a multipart/form-data form with the file, or JSON "
                'like {"name": "history", "from_model": "housing"}',
            )
        location = request.build_absolute_uri(reverse("api:dataset-detail", kwargs={"pk": dataset.pk}))
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED, headers={"Location": location})

    def _upload(self, request) -> Dataset:
        if "file" not in request.data:
            raise InvalidInput("send the dataset in the form's file field", field="file")
        fields = self.valid(DatasetUploadSerializer, request.data)
        upload = fields.pop("file")
        dataset_services.check_size(upload.size)  # before reading it into memory
        return dataset_services.dataset_create(
            content=upload.read(),
            filename=upload.name or "",
            fmt=fields.pop("format", None),
            user=request.user,
            **fields,
        )


class DatasetDetailView(DatasetView):
    required_permissions = {"DELETE": ("catalogue.delete_dataset", "deleting a dataset")}

    @extend_schema(
        summary="A dataset: its schema, and a preview of its first rows",
        tags=TAGS,
        parameters=[DATASET_ID],
        responses={200: DatasetDetailSerializer, **errors(404)},
    )
    def get(self, request, pk: int) -> Response:
        return Response(DatasetDetailSerializer(self.get_dataset(with_content=True)).data)

    @extend_schema(
        summary="Delete a dataset (refused while versions record it as their training data)",
        tags=TAGS,
        parameters=[DATASET_ID],
        responses={204: None, **errors(403, 404, 409)},
    )
    def delete(self, request, pk: int) -> Response:
        dataset_services.dataset_delete(dataset=self.get_dataset())
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("datasets/", DatasetListView.as_view(), name="dataset-list"),
    path("datasets", with_slash),
    path("datasets/<int:pk>/", DatasetDetailView.as_view(), name="dataset-detail"),
    path("datasets/<int:pk>", with_slash),
]
