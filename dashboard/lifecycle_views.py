"""The model Dashboard's lifecycle controls: add or remove a challenger, set or end the canary.

Each is a POST from the panel (templates/dashboard/_lifecycle.html) that calls one catalogue service. A
refusal of the core (a version that is not ready, a percent out of range...) renders the Dashboard again
with the message on the form that sent it, and the core's status; success goes back to the panel.
"""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from catalogue import services
from catalogue.errors import RhythmicError
from dashboard.views import CHANGE_MODEL, dashboard_url, form_error, model_detail_context, page


class ChallengerForm(forms.Form):
    version = forms.IntegerField(min_value=1, label="New challenger")
    note = forms.CharField(required=False, max_length=500, label="Note")


class CanaryForm(forms.Form):
    version = forms.IntegerField(min_value=1, label="Canary version")
    # The range is the service's rule (services.clean_percent): its message is the one shown.
    percent = forms.FloatField(label="Share of predictions (%)")
    note = forms.CharField(required=False, max_length=500, label="Note")


def _refused(request, model, status: int, **extra):
    """The Dashboard again, scrolled to the panel, with the refused form or message."""
    return render(request, "dashboard/model_detail.html", model_detail_context(model, **extra), status=status)


def _submit(request, model, form, key: str, action, done: str):
    """Validate ``form``, run ``action(data)``; the Dashboard with the form's errors, or back to the panel."""
    if not form.is_valid():
        return _refused(request, model, 400, **{key: form})
    try:
        action(form.cleaned_data)
    except RhythmicError as exc:
        status = form_error(form, exc)
        return _refused(request, model, status, **{key: form})
    messages.success(request, done.format(**form.cleaned_data))
    return redirect(dashboard_url(model, "lifecycle"))


@require_POST
@page(CHANGE_MODEL, "adding a challenger")
def challenger_add(request, name: str):
    model = services.get_model_or_404(name)

    def add(data):
        version = services.get_version_or_404(model, data["version"])
        services.challenger_add(version=version, user=request.user, note=data["note"])

    done = f"{model.name} v{{version}} is a challenger: it predicts and learns every event beside production."
    return _submit(request, model, ChallengerForm(request.POST), "challenger_form", add, done)


@require_POST
@page(CHANGE_MODEL, "removing a challenger")
def challenger_remove(request, name: str, number: int):
    model = services.get_model_or_404(name)
    try:
        version = services.get_version_or_404(model, number)
        services.challenger_remove(version=version, user=request.user)
    except RhythmicError as exc:
        return _refused(request, model, exc.status, lifecycle_error=exc.message)
    messages.success(request, f"{model.name} v{number} is no longer a challenger: it stops predicting and learning.")
    return redirect(dashboard_url(model, "lifecycle"))


@require_POST
@page(CHANGE_MODEL, "setting the canary")
def canary_set(request, name: str):
    model = services.get_model_or_404(name)

    def set_canary(data):
        version = services.get_version_or_404(model, data["version"])
        services.canary_set(version=version, percent=data["percent"], user=request.user, note=data["note"])

    done = f"{model.name} v{{version}} is the canary: it answers {{percent:g}}% of predictions, sticky by id."
    return _submit(request, model, CanaryForm(request.POST), "canary_form", set_canary, done)


@require_POST
@page(CHANGE_MODEL, "ending the canary")
def canary_end(request, name: str):
    model = services.get_model_or_404(name)
    try:
        services.canary_end(model=model, user=request.user)
    except RhythmicError as exc:
        return _refused(request, model, exc.status, lifecycle_error=exc.message)
    messages.success(request, f"{model.name}'s canary ended: production answers every prediction again.")
    return redirect(dashboard_url(model, "lifecycle"))
