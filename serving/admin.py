"""Admin for backtests and training jobs: written by their runs only, so read-only here (start and cancel them
from the API, the pages, ``manage.py backtest`` or ``manage.py train``)."""

from django.contrib import admin

from serving.models import Backtest, TrainingJob


@admin.register(Backtest)
class BacktestAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "model",
        "version_label",
        "from_seq",
        "to_seq",
        "status",
        "progress",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "model")
    search_fields = ("model__name", "error")
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("model", "version", "created_by").defer("version__artifact")

    @admin.display(description="version")
    def version_label(self, obj) -> str:
        return f"v{obj.version.number}"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    """Training jobs, read-only: start and cancel them from the API, the Training jobs page or ``manage.py train``."""

    list_display = ("id", "model", "version_label", "dataset_name", "start", "status", "progress", "result_label")
    list_filter = ("status", "start", "model")
    search_fields = ("model__name", "dataset_name", "error")
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("model", "version", "result", "dataset", "created_by")
            .defer("version__artifact", "result__artifact", "dataset__content")
        )

    @admin.display(description="version")
    def version_label(self, obj) -> str:
        return f"v{obj.version.number}"

    @admin.display(description="result")
    def result_label(self, obj) -> str:
        return f"v{obj.result.number}" if obj.result else "—"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
