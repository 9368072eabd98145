"""Admin for serving locations; the default is set through the service (one default at a time)."""

from django import forms
from django.contrib import admin
from django.db.models import Count

from catalogue import services
from catalogue.admin.common import ServiceErrorsAsMessages, _copy_saved
from catalogue.models import Location


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
