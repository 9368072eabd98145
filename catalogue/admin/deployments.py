"""Admin for the deployment history: append-only, so read-only here."""

from django.contrib import admin

from catalogue.models import Deployment


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
