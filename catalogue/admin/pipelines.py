"""Admin for pipelines: created and given new stages through catalogue.pipelines; versions and history read-only;
promote and roll back as actions."""

from django import forms
from django.contrib import admin, messages

from catalogue import pipelines
from catalogue.admin.common import ServiceErrorsAsMessages, _copy_saved, _run
from catalogue.pipeline_models import Pipeline, PipelineDeployment, PipelineVersion


class PipelineForm(forms.ModelForm):
    stages = forms.JSONField(
        help_text='A JSON list, e.g. [{"model": "scorer", "as": "anomaly_score"}, {"model": "classifier"}]. '
        "Changing it adds a version (promote it from Pipeline versions)."
    )

    class Meta:
        model = Pipeline
        fields = ("name", "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk:
            latest = instance.versions.order_by("-number").first()
            self.fields["stages"].initial = latest.stages if latest else []


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class PipelineVersionInline(ReadOnlyInline):
    model = PipelineVersion
    fields = ("number", "stages", "message", "author", "created_at")
    readonly_fields = fields
    ordering = ("-number",)


class PipelineDeploymentInline(ReadOnlyInline):
    model = PipelineDeployment
    fk_name = "pipeline"
    fields = ("created_at", "action", "from_version", "to_version", "user", "note")
    readonly_fields = fields
    verbose_name_plural = "history"


@admin.register(Pipeline)
class PipelineAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    form = PipelineForm
    list_display = ("name", "production", "owner", "updated_at")
    search_fields = ("name", "description")
    list_select_related = ("production_version", "owner")
    inlines = (PipelineVersionInline, PipelineDeploymentInline)
    actions = ("roll_back",)

    def get_readonly_fields(self, request, obj=None):
        return ("name", "production_version", "owner") if obj else ()

    def get_fields(self, request, obj=None):
        return ("name", "description", "stages", *(("production_version", "owner") if obj else ()))

    @admin.display(description="production")
    def production(self, obj) -> str:
        return f"v{obj.production_version.number}" if obj.production_version else "-"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            saved = pipelines.pipeline_create(
                name=data["name"], stages=data["stages"], description=data["description"], owner=request.user
            )
            _copy_saved(obj, saved)
            return
        Pipeline.objects.filter(pk=obj.pk).update(description=data["description"])
        if "stages" in form.changed_data:
            version = pipelines.pipeline_version_create(pipeline=obj, stages=data["stages"], author=request.user)
            self.message_user(request, f"{obj.name} v{version.number} added; promote it to serve it.")

    @admin.action(description="Roll back to the previous production version", permissions=["change"])
    def roll_back(self, request, queryset):
        for pipeline in queryset:

            def call(p=pipeline):
                return pipelines.pipeline_rollback(pipeline=p, user=request.user)

            done = _run(self, request, pipeline.name, call)
            if done is not None:
                message = f"{pipeline.name} rolled back to v{done.to_version.number}."
                self.message_user(request, message, messages.SUCCESS)


@admin.register(PipelineVersion)
class PipelineVersionAdmin(admin.ModelAdmin):
    """Versions never change: read them here, promote one with the action."""

    list_display = ("pipeline", "number", "stage_list", "message", "author", "created_at")
    list_filter = ("pipeline",)
    list_select_related = ("pipeline", "author")
    readonly_fields = ("pipeline", "number", "stages", "message", "author", "created_at")
    actions = ("promote",)

    @admin.display(description="stages")
    def stage_list(self, obj) -> str:
        return " → ".join(f"{s['model']} as {s['as']}" if s.get("as") else s["model"] for s in obj.stages)

    def has_add_permission(self, request) -> bool:
        return False  # a new version is a change of the pipeline's stages

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)  # the list (for the action), no edits

    @admin.action(description="Promote to production", permissions=["promote"])
    def promote(self, request, queryset):
        for version in queryset.select_related("pipeline"):
            done = _run(
                self, request, str(version), lambda v=version: pipelines.pipeline_promote(version=v, user=request.user)
            )
            if done is not None:
                self.message_user(request, f"{version} is in production.", messages.SUCCESS)

    def has_promote_permission(self, request) -> bool:
        return request.user.has_perm("catalogue.change_mlmodel")
