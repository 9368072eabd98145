"""The rewind page: choose a version and a log entry (or entries to skip), see the preview, confirm.

The model page's panel (templates/dashboard/_rewind.html) sends its choice here with GET; the preview is
computed without changing anything; the confirmation POSTs the same choice and calls ``serving.rewind``.
"""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from catalogue import services
from catalogue.errors import RhythmicError
from dashboard.views import CHANGE_MODEL, dashboard_url, form_error, page
from serving import rewind as rewinds


class RewindForm(forms.Form):
    version = forms.IntegerField(min_value=1, label="Version")
    to_seq = forms.IntegerField(
        min_value=0, required=False, label="Back to right after log entry", help_text="a seq of the learn log"
    )
    skip = forms.CharField(
        required=False, label="Or skip these entries", help_text="seqs separated by commas, like 41, 42, 43"
    )
    reason = forms.CharField(required=False, max_length=500, label="Reason")

    def clean_skip(self) -> list[int] | None:
        text = self.cleaned_data["skip"].strip()
        if not text:
            return None
        try:
            return [int(part) for part in text.replace(" ", "").split(",") if part]
        except ValueError:
            raise forms.ValidationError("list seqs separated by commas, like 41, 42, 43") from None


@require_http_methods(["GET", "POST"])
@page(CHANGE_MODEL, "rewinding a version")
def rewind(request, name: str):
    model = services.get_model_or_404(name)
    form = RewindForm(request.POST if request.method == "POST" else request.GET)
    context = {"model": model, "form": form, "preview": None}
    if not form.is_valid():
        return render(request, "dashboard/rewind.html", context, status=400)
    data = form.cleaned_data
    try:
        version = services.get_version_or_404(model, data["version"])
        point = {"to_seq": data["to_seq"], "skip": data["skip"]}
        if request.method == "POST":
            done = rewinds.version_rewind(
                model=model, version=version, **point, user=request.user, reason=data["reason"]
            )
            messages.success(
                request, f"{model.name} v{version.number} rewound: {done.n_undone} learned entries undone."
            )
            return redirect(dashboard_url(model, "rewinds"))
        context["preview"] = rewinds.version_rewind_preview(model=model, version=version, **point)
    except RhythmicError as exc:
        status = form_error(form, exc)
        return render(request, "dashboard/rewind.html", context, status=status)
    return render(request, "dashboard/rewind.html", context)
