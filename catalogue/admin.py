"""Django admin for the catalogue: every write goes through catalogue services, their errors become messages.

Versions are immutable (uploads only, through ``services.model_version_register``); deployments are
append-only history, read-only here.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from catalogue import services
from catalogue.errors import RhythmicError
from catalogue.models import Deployment, LearnEvent, Location, MLModel, ModelVersion

EXTENSIONS = {"dill": "dill", "pickle": "pkl", "joblib": "joblib", "onnx": "onnx"}


class ServiceErrorsAsMessages:
    """A service refusing a save or delete shows its message on the page it came from, never a 500.

    The admin wraps these views in a transaction, so the exception also rolls back anything half done.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except RhythmicError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except RhythmicError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


def _copy_saved(target, saved) -> None:
    """Give the admin's unsaved form instance the identity of the row a service created (for logs, redirects)."""
    for field in saved._meta.concrete_fields:
        if field.attname in saved.get_deferred_fields():
            continue
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False


def _run(modeladmin, request, label: str, call):
    """Run one service call for an action: its result, or None after an error message naming the object."""
    try:
        return call()
    except RhythmicError as exc:
        modeladmin.message_user(request, f"{label}: {exc.message}", messages.ERROR)
        return None


# --- locations ------------------------------------------------------------------------------------


class LocationForm(forms.ModelForm):
    # Not the model's is_default: the one-default constraint would refuse the form before
    # location_set_default could clear the previous default.
    make_default = forms.BooleanField(required=False, label="make this the default location")

    class Meta:
        model = Location
        fields = ("name", "description")


@admin.register(Location)
class LocationAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    form = LocationForm
    list_display = ("name", "is_default", "description", "model_count", "created_at")
    list_filter = ("is_default",)
    search_fields = ("name", "description")
    fields = ("name", "description", "is_default", "make_default", "created_at")
    readonly_fields = ("is_default", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_models=Count("models"))

    @admin.display(description="models", ordering="n_models")
    def model_count(self, obj) -> int:
        return obj.n_models

    def save_model(self, request, obj, form, change):
        make_default = form.cleaned_data["make_default"]
        if not change:
            _copy_saved(
                obj,
                services.location_create(name=obj.name, description=obj.description, is_default=make_default),
            )
            return
        obj.save(update_fields=["name", "description"])
        if make_default:
            services.location_set_default(location=obj)


# --- models and their versions ---------------------------------------------------------------------


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


class MLModelForm(forms.ModelForm):
    class Meta:
        model = MLModel
        fields = ("name", "flavor", "description", "metadata", "location")
        help_texts = {"metadata": 'A JSON object of strings, e.g. {"team": "fraud"}'}

    def clean_metadata(self):
        metadata = self.cleaned_data.get("metadata")
        if metadata in (None, ""):
            return {}
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise forms.ValidationError('metadata must be a JSON object of strings, like {"team": "fraud"}')
        return metadata


@admin.register(MLModel)
class MLModelAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    form = MLModelForm
    list_display = ("name", "flavor", "location", "production", "version_count", "owner", "updated_at")
    list_filter = ("flavor", "location")
    search_fields = ("name", "description")
    list_select_related = ("location", "owner")
    inlines = (ModelVersionInline,)
    actions = ("roll_back",)
    fieldsets = (
        (None, {"fields": ("name", "flavor", "description", "metadata", "location")}),
        ("Production", {"fields": ("production", "upload_link", "owner", "version_counter", "learn_seq")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = ("production", "upload_link", "owner", "version_counter", "learn_seq", "created_at", "updated_at")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("production_version")
            .defer("production_version__artifact")
            .annotate(n_versions=Count("versions"))
        )

    def get_readonly_fields(self, request, obj=None):
        # A model's name is its address and its flavor decides what its versions must implement: fixed once created.
        return (*self.readonly_fields, "name", "flavor") if obj else self.readonly_fields

    @admin.display(description="production version")
    def production(self, obj) -> str:
        version = obj.production_version
        return f"v{version.number}" if version else "-"

    @admin.display(description="versions", ordering="n_versions")
    def version_count(self, obj) -> int:
        return getattr(obj, "n_versions", 0)

    @admin.display(description="new version")
    def upload_link(self, obj) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:catalogue_modelversion_add") + f"?model={obj.pk}"
        return format_html('<a href="{}">upload a new version</a>', url)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.model_update(
                model=obj, description=data["description"], metadata=data["metadata"], location=data["location"]
            )
            return
        created = services.model_create(
            name=data["name"],
            flavor=data["flavor"],
            description=data["description"],
            metadata=data["metadata"],
            location=data["location"],
            owner=request.user,
        )
        _copy_saved(obj, created)

    def get_deleted_objects(self, objs, request):
        # The default collects every related row for the confirmation page, and a model's learn log can hold
        # millions; it would also demand delete rights on versions, which are never deleted alone. Counts instead.
        models = list(objs)
        counts = {
            "models": len(models),
            "versions": ModelVersion.objects.filter(model__in=models).count(),
            "deployments": Deployment.objects.filter(model__in=models).count(),
            "learn-log entries": LearnEvent.objects.filter(model__in=models).count(),
        }
        deleted = [f"{model.name}, with all its versions, deployment history and learned state" for model in models]
        return deleted, counts, set(), []

    def delete_model(self, request, obj):
        services.model_delete(model=obj)

    def delete_queryset(self, request, queryset):
        for model in queryset:
            services.model_delete(model=model)

    def has_deploy_permission(self, request) -> bool:
        return request.user.has_perm("catalogue.change_mlmodel")

    @admin.action(description="Roll back to the previous production version", permissions=["deploy"])
    def roll_back(self, request, queryset):
        for model in queryset:
            deployment = _run(
                self,
                request,
                model.name,
                lambda m=model: services.deployment_rollback(model=m, user=request.user, note="rolled back in admin"),
            )
            if deployment is not None:
                old, new = deployment.from_version.number, deployment.to_version.number
                self.message_user(request, f"{model.name} rolled back from v{old} to v{new}", messages.SUCCESS)


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
        "message",
        "description",
        "requirements",
        "metadata",
        "input_example",
        "created_at",
        "validated_at",
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
        version, created = services.model_version_register(
            model=data["model"],
            data=data["artifact_file"].read(),
            fmt=data["artifact_format"] or None,
            requirements=data["requirements"],
            message=data["message"],
            description=data["description"],
            input_example=data["input_example"],
            author=request.user,
        )
        _copy_saved(obj, version)
        obj._already_stored = not created

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
            lambda: services.deployment_promote(version=version, user=request.user, note="promoted in admin"),
        )
        if deployment is not None:
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


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    """The append-only history of production changes: readable, never edited here."""

    list_display = ("created_at", "model", "action", "from_label", "to_label", "user", "note")
    list_filter = ("action", "model")
    search_fields = ("model__name", "note", "user__username")
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("model", "from_version", "to_version", "user")
            .defer("from_version__artifact", "to_version__artifact")
        )

    @admin.display(description="from")
    def from_label(self, obj) -> str:
        return f"v{obj.from_version.number}" if obj.from_version else "-"

    @admin.display(description="to")
    def to_label(self, obj) -> str:
        return f"v{obj.to_version.number}" if obj.to_version else "-"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
