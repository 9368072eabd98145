"""Admin for models: create and change through services, versions inline, roll back as an action."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from catalogue import services
from catalogue.admin.common import ServiceErrorsAsMessages, _copy_saved, _run
from catalogue.admin.versions import ModelVersionInline
from catalogue.models import Challenger, Deployment, MLModel, ModelVersion


class ChallengerInline(admin.TabularInline):
    """The model's challengers: a row added or deleted here goes through challenger_add / challenger_remove."""

    model = Challenger
    fields = ("version", "added_at", "added_by")
    readonly_fields = ("added_at", "added_by")
    extra = 0
    verbose_name_plural = "challengers (versions that learn beside production and never answer)"

    def get_formset(self, request, obj=None, **kwargs):
        self._parent = obj
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "version":
            parent = getattr(self, "_parent", None)
            kwargs["queryset"] = (
                ModelVersion.objects.ready().without_artifact().filter(model=parent)
                if parent is not None
                else ModelVersion.objects.none()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _may_deploy(self, request) -> bool:
        return request.user.has_perm("catalogue.change_mlmodel")

    def has_add_permission(self, request, obj=None) -> bool:
        return obj is not None and self._may_deploy(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # remove one and add another: each is a deployment-history entry

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may_deploy(request)


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
    inlines = (ChallengerInline, ModelVersionInline)
    actions = ("roll_back",)
    fieldsets = (
        (None, {"fields": ("name", "flavor", "description", "metadata", "location")}),
        ("Production", {"fields": ("production", "canary", "upload_link", "owner", "version_counter", "learn_seq")}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = (
        "production",
        "canary",
        "upload_link",
        "owner",
        "version_counter",
        "learn_seq",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("production_version")
            .defer("production_version__artifact")
            .annotate(n_versions=Count("versions"))
        )

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else (ModelVersionInline,)  # a new model has no production yet

    def get_readonly_fields(self, request, obj=None):
        # A model's name is its address and its flavor decides what its versions must implement: fixed once created.
        return (*self.readonly_fields, "name", "flavor") if obj else self.readonly_fields

    @admin.display(description="production version")
    def production(self, obj) -> str:
        version = obj.production_version
        return f"v{version.number}" if version else "-"

    @admin.display(description="canary")
    def canary(self, obj) -> str:
        version = obj.canary_version
        return (
            f"v{version.number} answers {obj.canary_percent:g}% (manage.py canary, or PUT .../canary)"
            if version
            else "-"
        )

    def save_formset(self, request, form, formset, change):
        if formset.model is not Challenger:
            return super().save_formset(request, form, formset, change)
        added = formset.save(commit=False)  # fills deleted_objects too; the services write
        for challenger in formset.deleted_objects:
            services.challenger_remove(version=challenger.version, user=request.user, note="removed in admin")
        for challenger in added:
            services.challenger_add(version=challenger.version, user=request.user, note="added in admin")
        return None

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
            # The learn log is serving's model, which catalogue does not import: reached through the relation.
            "learn-log entries": MLModel.learn_events.rel.related_model.objects.filter(model__in=models).count(),
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
