"""Admin for datasets: list and search them, read the schema and a preview; uploads and deletes go through
``catalogue.datasets.services`` (a dataset's rows never change, so nothing edits one)."""

from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from catalogue.admin.common import ServiceErrorsAsMessages, _copy_saved
from catalogue.datasets import dataset_preview
from catalogue.datasets import services as dataset_services
from catalogue.errors import TooLarge
from catalogue.models import Dataset

PREVIEW_ROWS = 20


class DatasetUploadForm(forms.ModelForm):
    data_file = forms.FileField(label="file", help_text="CSV (the first row names the columns) or JSON Lines")
    data_format = forms.ChoiceField(
        label="format", choices=[("", "from the file name"), *Dataset.Format.choices], required=False
    )

    class Meta:
        model = Dataset
        fields = ("name", "description", "target", "data_file", "data_format")

    def clean_data_file(self):
        upload = self.cleaned_data["data_file"]
        try:
            dataset_services.check_size(upload.size)  # before reading it into memory
        except TooLarge as exc:
            raise forms.ValidationError(exc.message) from None
        return upload


@admin.register(Dataset)
class DatasetAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    list_display = ("name", "format", "target", "rows", "size", "source_model", "created_by", "created_at")
    list_filter = ("format",)
    search_fields = ("name", "description", "target")
    list_select_related = ("source_model", "created_by")
    date_hierarchy = "created_at"
    detail_fields = (
        "name",
        "description",
        "format",
        "target",
        "rows",
        "size",
        "sha256",
        "schema_display",
        "source_model",
        "from_seq",
        "to_seq",
        "created_by",
        "created_at",
        "preview_display",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_fields(self, request, obj=None):
        return DatasetUploadForm.Meta.fields if obj is None else self.detail_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.detail_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = DatasetUploadForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        upload = data["data_file"]
        dataset = dataset_services.dataset_create(
            name=data["name"],
            content=upload.read(),
            target=data["target"],
            fmt=data["data_format"] or None,
            filename=upload.name or "",
            description=data["description"],
            user=request.user,
        )
        _copy_saved(obj, dataset)

    def delete_model(self, request, obj):
        dataset_services.dataset_delete(dataset=obj)

    def delete_queryset(self, request, queryset):
        for dataset in queryset:
            dataset_services.dataset_delete(dataset=dataset)

    @admin.display(description="schema")
    def schema_display(self, obj) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((c["name"], c["type"], c["missing"]) for c in obj.columns),
        )
        return format_html(
            "<table><thead><tr><th>column</th><th>type</th><th>missing</th></tr></thead><tbody>{}</tbody></table>", rows
        )

    @admin.display(description=f"preview (first {PREVIEW_ROWS} rows)")
    def preview_display(self, obj) -> str:
        names = [column["name"] for column in obj.columns]
        stored = Dataset.objects.filter(pk=obj.pk).first()  # the list queryset deferred the bytes
        preview = dataset_preview(stored, limit=PREVIEW_ROWS) if stored else []
        head = format_html_join("", "<th>{}</th>", ((name,) for name in names))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (format_html_join("", "<td>{}</td>", (("—" if row[n] is None else row[n],) for n in names)),)
                for row in preview
            ),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)
