"""Admin for model versions: immutable uploads through the service, validation reports, downloads, actions."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from catalogue import services
from catalogue.admin.common import EXTENSIONS, ServiceErrorsAsMessages, _copy_saved, _run
from catalogue.models import ModelVersion


def _version_admin_url(version: ModelVersion, name: str) -> str:
    return reverse(f"admin:catalogue_modelversion_{name}", args=[version.pk])


@admin.display(description="sha256")
def sha256_prefix(version: ModelVersion) -> str:
    return version.sha256[:12] if version.sha256 else "-"


@admin.display(description="size", ordering="size")
def size_display(version: ModelVersion) -> str:
    return f"{version.size:,} bytes" if version.size is not None else "-"


@admin.display(description="live", boolean=True)
def live(version: ModelVersion) -> bool:
    return version.is_live


@admin.display(description="artifact")
def download_link(version: ModelVersion) -> str:
    if version.pk is None:
        return "-"
    return format_html('<a href="{}">download</a>', _version_admin_url(version, "artifact"))


class ModelVersionInline(admin.TabularInline):
    """The versions of a model, without their bytes: each row links to its page and its download."""

    model = ModelVersion
    fields = (
        "number",
        "status",
        "format",
        size_display,
        sha256_prefix,
        "message",
        "author",
        "created_at",
        live,
        download_link,
    )
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False
    ordering = ("-number",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("artifact").select_related("model", "author")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class VersionUploadForm(forms.ModelForm):
    """Upload an artifact; numbering, hashing and dedup are the service's."""

    artifact_file = forms.FileField(label="artifact", help_text="the serialized model: dill, pickle, joblib or ONNX")
    # Not the model field: an empty choice here means "guess from the bytes", which the service does.
    artifact_format = forms.ChoiceField(
        label="format", choices=[("", "guess from the bytes"), *ModelVersion.Format.choices], required=False
    )

    class Meta:
        model = ModelVersion
        fields = (
            "model",
            "artifact_file",
            "artifact_format",
            "requirements",
            "message",
            "description",
            "input_example",
        )
        help_texts = {
            "requirements": "requirements.txt lines the model needs",
            "input_example": 'one input as a JSON object, e.g. {"distance": 3.2}',
        }

    def clean_input_example(self):
        example = self.cleaned_data.get("input_example")
        if example is not None and not isinstance(example, dict):
            raise forms.ValidationError('the input example must be a JSON object of features, like {"x": 1.5}')
        return example


@admin.register(ModelVersion)
class ModelVersionAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    list_display = (
        "__str__",
        "model",
        "number",
        "status",
        "format",
        size_display,
        sha256_prefix,
        "author",
        "created_at",
        live,
    )
    list_display_links = ("__str__",)
    list_filter = ("status", "format", "model__flavor", "model")
    search_fields = ("model__name", "sha256", "message", "description")
    list_select_related = ("model", "author")
    date_hierarchy = "created_at"
    actions = ("validate_again", "promote", "retire")
    detail_fields = (
        "model",
        "number",
        "status",
        live,
        download_link,
        "format",
        "size",
        "sha256",
        "author",
        "parent",
        "dataset",
        "params",
        "training_metrics",
        "message",
        "description",
        "requirements",
        "metadata",
        "input_example",
        "created_at",
        "validated_at",
        "non_finite_seq",
        "non_finite_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).defer("artifact").select_related("model", "author", "parent")

    # Versions are immutable: an upload creates one, nothing edits or deletes one (retire it instead).
    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_revise_permission(self, request) -> bool:
        return request.user.has_perm("catalogue.change_modelversion")

    def has_deploy_permission(self, request) -> bool:
        return request.user.has_perm("catalogue.change_mlmodel")

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": VersionUploadForm.Meta.fields})]
        return [
            (None, {"fields": self.detail_fields}),
            ("Validation", {"fields": ("validation_report_display",)}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else (*self.detail_fields, "validation_report_display")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = VersionUploadForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        uploaded = services.model_version_upload(
            name=data["model"].name,
            data=data["artifact_file"].read(),
            fmt=data["artifact_format"] or None,
            requirements=data["requirements"],
            message=data["message"],
            description=data["description"],
            input_example=data["input_example"],
            author=request.user,
        )
        _copy_saved(obj, uploaded.version)
        obj._already_stored = not uploaded.version_created

    def response_add(self, request, obj, post_url_continue=None):
        change_url = _version_admin_url(obj, "change")
        if getattr(obj, "_already_stored", False):
            self.message_user(request, f"These bytes are already {obj}; nothing new was stored.", messages.WARNING)
            return HttpResponseRedirect(change_url)
        self.message_user(
            request, f"Uploaded {obj}. It is validated in the background; this page shows the result.", messages.SUCCESS
        )
        return HttpResponseRedirect(change_url)

    @admin.display(description="validation report")
    def validation_report_display(self, obj) -> str:
        report = obj.validation_report or {}
        if not report:
            return f"not validated yet ({obj.status})"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (check.get("name", ""), check.get("status", ""), check.get("detail", ""), check.get("seconds", ""))
                for check in report.get("checks", [])
            ),
        )
        timings = ", ".join(
            f"{label}: {report[key]}"
            for key, label in (("load_seconds", "load seconds"), ("predict_latency_us", "median predict µs"))
            if report.get(key) is not None
        )
        return format_html(
            "<p><strong>{}</strong></p>"
            "<table><thead><tr><th>check</th><th>status</th><th>detail</th><th>seconds</th></tr></thead>"
            "<tbody>{}</tbody></table><p>{}</p>",
            report.get("summary", ""),
            rows,
            timings,
        )

    def get_urls(self):
        download = path(
            "<path:object_id>/artifact/",
            self.admin_site.admin_view(self.download_view),
            name="catalogue_modelversion_artifact",
        )
        return [download, *super().get_urls()]

    def download_view(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = get_object_or_404(ModelVersion.objects.select_related("model"), pk=object_id)
        response = HttpResponse(bytes(version.artifact), content_type="application/octet-stream")
        filename = f"{version.model.name}-v{version.number}.{EXTENSIONS.get(version.format, 'bin')}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Content-SHA256"] = version.sha256
        return response

    @admin.action(description="Validate again", permissions=["revise"])
    def validate_again(self, request, queryset):
        for version in queryset:
            queued = _run(self, request, str(version), lambda v=version: services.model_version_revalidate(version=v))
            if queued is not None:
                version.refresh_from_db(fields=["status"])
                self.message_user(request, f"{version}: validation queued ({version.status})", messages.SUCCESS)

    @admin.action(description="Promote to production (select one version)", permissions=["deploy"])
    def promote(self, request, queryset):
        count = queryset.count()
        if count != 1:
            self.message_user(request, f"Select exactly one version to promote; you selected {count}.", messages.ERROR)
            return
        version = queryset.get()
        deployment = _run(
            self,
            request,
            str(version),
            lambda: services.deployment_deploy(version=version, user=request.user, note="promoted in admin") or "",
        )
        if deployment == "":
            self.message_user(request, f"{version} is deploying: its instances are pre-loading it.", messages.INFO)
        elif deployment is not None:
            self.message_user(request, f"{version} is now in production.", messages.SUCCESS)

    @admin.action(description="Retire (can no longer be promoted)", permissions=["revise"])
    def retire(self, request, queryset):
        for version in queryset:
            retired = _run(
                self, request, str(version), lambda v=version: services.version_retire(version=v, user=request.user)
            )
            if retired is not None:
                self.message_user(request, f"{version} retired.", messages.SUCCESS)


# --- deployment history -----------------------------------------------------------------------------
