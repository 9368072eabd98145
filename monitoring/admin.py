"""Django admin for monitoring: alert rules (written through services), alerts, their webhook deliveries,
snapshots and drift points.

Snapshots, drift points, webhook deliveries and alerts are records of what happened: read-only here, except
acknowledging alerts.
"""

from django.contrib import admin, messages
from django.db import models
from django.http import HttpResponseRedirect

from catalogue.errors import RhythmicError
from monitoring import services
from monitoring.models import Alert, AlertRule, DriftPoint, MetricSnapshot, WebhookDelivery


class ServiceErrorsAsMessages:
    """A service refusing a save shows its message on the form's page, never a 500 (the admin's transaction
    rolls back anything half done)."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except RhythmicError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class ReadOnly:
    """A record admin: listed and viewed, never added or edited; version rows without their artifact bytes."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if hasattr(self.model, "version"):
            queryset = queryset.select_related("model", "version", "version__model").defer("version__artifact")
        return queryset

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AlertRule)
class AlertRuleAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    list_display = ["name", "model", "signal", "comparison", "threshold", "window_seconds", "enabled"]
    list_filter = ["enabled", "signal", "model"]
    search_fields = ["name", "model__name"]
    raw_id_fields = ["model"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change) -> None:
        # The service's checks (the signal names a metric of the model's flavor...) refuse with a message.
        fields = {name: getattr(obj, name) for name in services.RULE_FIELDS}
        if change:
            services.alert_rule_update(rule=obj, **fields)
        else:
            saved = services.alert_rule_create(model=obj.model, created_by=request.user, **fields)
            obj.pk, obj.created_by, obj.created_at = saved.pk, saved.created_by, saved.created_at
            obj._state.adding = False

    def delete_model(self, request, obj) -> None:
        services.alert_rule_delete(rule=obj)


@admin.register(Alert)
class AlertAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["rule", "state", "value", "message", "fired_at", "resolved_at", "acknowledged_by"]
    list_filter = ["state", "rule__model"]
    list_select_related = ["rule", "rule__model", "acknowledged_by"]
    search_fields = ["message", "rule__name", "rule__model__name"]
    actions = ["acknowledge"]

    @admin.action(description="Acknowledge the selected firing alerts")
    def acknowledge(self, request, queryset) -> None:
        done = 0
        for alert in queryset.filter(state=Alert.State.FIRING):
            services.alert_acknowledge(alert=alert, user=request.user)
            done += 1
        self.message_user(request, f"{done} alert(s) acknowledged")


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["model", "version", "state_seq", "n_learned", "metrics", "created_at"]
    list_filter = ["model"]
    date_hierarchy = "created_at"


@admin.register(DriftPoint)
class DriftPointAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["model", "version", "seq", "n_drifts", "detected_at"]
    list_filter = ["model"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["alert", "url", "status", "attempts", "last_status_code", "last_error", "created_at"]
    list_filter = ["status", "alert__rule__model"]
    list_select_related = ["alert", "alert__rule", "alert__rule__model"]
    search_fields = ["url", "alert__rule__name", "alert__rule__model__name"]
    date_hierarchy = "created_at"
