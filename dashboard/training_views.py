"""The model's Training jobs page: the jobs with live progress bars, a form to start one, cancel buttons.

Each action checks the permission and the form, calls one function of ``serving.training`` and goes back to
the page, where the progress follows live (``dashboard/static/dashboard/jobs.js``)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from catalogue import services
from catalogue.datasets.selectors import dataset_list
from catalogue.errors import InvalidInput, NotFound, RhythmicError
from catalogue.flavors import get_flavor
from catalogue.models import ModelVersion
from dashboard.views import CHANGE_MODEL, error_page, page
from serving import training

ADD_VERSION = "catalogue.add_modelversion"
#: The newest jobs shown (the API lists them all).
SHOWN = 50
BADGES = {"queued": "wait", "running": "wait", "succeeded": "ok", "failed": "bad", "cancelled": "muted"}


def jobs_url(model) -> str:
    return reverse("dashboard:jobs", args=[model.name])


@page()
def jobs(request, name: str):
    model = services.get_model_or_404(name)
    rows = [
        {"job": job, "badge": BADGES.get(job.status, "muted"), "percent": round(job.progress * 100)}
        for job in training.training_list(model=model)[:SHOWN]
    ]
    runnable = (ModelVersion.Status.READY, ModelVersion.Status.RETIRED)
    context = {
        "model": model,
        "flavor": get_flavor(model.flavor),
        "tab": "jobs",
        "rows": rows,
        "versions": model.versions.without_artifact().filter(status__in=runnable).order_by("-number"),
        "datasets": dataset_list().order_by("name"),
        "live": any(not row["job"].finished for row in rows),
    }
    return render(request, "dashboard/jobs.html", context)


def _number(request, field: str) -> int:
    raw = request.POST.get(field, "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise InvalidInput(f"choose a {field}", field=field)
    return int(raw)


@require_POST
@page(ADD_VERSION, "training a version (it makes a new version)")
def job_start(request, name: str):
    model = services.get_model_or_404(name)
    promote = request.POST.get("promote") == "on"
    if promote and not request.user.has_perm(CHANGE_MODEL):
        return error_page(request, f"training with promote needs the {CHANGE_MODEL} permission.", 403)
    try:
        job = training.training_start(
            model=model,
            version=_number(request, "version"),
            dataset=_number(request, "dataset"),
            start=request.POST.get("from", "artifact"),
            promote=promote,
            message=request.POST.get("message", "").strip(),
            user=request.user,
        )
    except RhythmicError as exc:
        messages.error(request, f"Training not started: {exc.message}")
    else:
        messages.success(
            request, f"Training job #{job.pk} started: v{job.version.number} on dataset {job.dataset_name}."
        )
    return redirect(jobs_url(model))


@require_POST
@page(ADD_VERSION, "cancelling a training job")
def job_cancel(request, name: str, pk: int):
    model = services.get_model_or_404(name)
    job = training.training_get(model=model, job_id=pk, recover=False)
    if job is None:
        raise NotFound(f"{model.name} has no training job {pk}")
    try:
        job = training.training_cancel(job=job, user=request.user)
    except RhythmicError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Training job #{job.pk}: cancel requested ({job.status}).")
    return redirect(jobs_url(model))
