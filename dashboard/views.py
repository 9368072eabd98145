"""Server-rendered pages: Catalogue, model Dashboard, version actions, compare and settings.

Every page needs a login; every write checks a Django permission, then calls one catalogue service.
A refusal of the core (RhythmicError) becomes the form's error or an error page with its status.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from catalogue import selectors, services
from catalogue.errors import RhythmicError
from catalogue.flavors import get_flavor
from catalogue.models import ModelVersion
from dashboard import forms, history, tokens
from dashboard import selectors as pages
from monitoring import policies
from serving import deploy
from serving.models import Instance

CHANGE_MODEL = "catalogue.change_mlmodel"


# --- plumbing --------------------------------------------------------------------------------------


def error_page(request, message: str, status: int, *, title: str = ""):
    titles = {400: "Cannot do that", 403: "Not allowed", 404: "Not found", 409: "Not now", 413: "Too large"}
    context = {"title": title or titles.get(status, "Error"), "message": message, "status": status}
    return render(request, "dashboard/error.html", context, status=status)


def login_lockout(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out login (the login page's or the admin's): 429 with Retry-After."""
    from axes.helpers import get_cool_off

    seconds = int(get_cool_off(request).total_seconds())
    response = error_page(
        request,
        f"too many failed logins: try again in {seconds} s (RHYTHMIC_LOGIN_FAILURE_LIMIT, "
        "RHYTHMIC_LOGIN_COOLOFF_SECONDS).",
        429,
        title="Too many failed logins",
    )
    response["Retry-After"] = str(seconds)
    return response


def page(permission: str | None = None, action: str = ""):
    """Login required; ``permission`` (with a phrase naming the action) for writes; core errors as pages."""

    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if permission and not request.user.has_perm(permission):
                return error_page(
                    request, f"{action} needs the {permission} permission: ask an administrator for it.", 403
                )
            try:
                return view(request, *args, **kwargs)
            except RhythmicError as exc:
                return error_page(request, exc.message, exc.status)

        return login_required(wrapper)

    return decorate


def form_error(form, exc: RhythmicError) -> int:
    """Put a core refusal on the form field it names (or the whole form); the status to answer with."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return exc.status


def _posted(request):
    """The form data of a POST (even an empty one, which must fail validation), None for a GET."""
    return request.POST if request.method == "POST" else None


def dashboard_url(model, anchor: str = "") -> str:
    name = model if isinstance(model, str) else model.name
    return reverse("dashboard:model", kwargs={"name": name}) + (f"#{anchor}" if anchor else "")


# --- Catalogue -------------------------------------------------------------------------------------


@page()
def home(request):
    learns = pages.learns_last_hour()
    rows = []
    running = list(Instance.objects.filter(stopped_at__isnull=True))
    for model in selectors.model_list_with_latest():
        metric, value, why = pages.headline(model=model)
        rows.append(
            {
                "model": model,
                "flavor": get_flavor(model.flavor),
                "learns": learns.get(model.pk, 0),
                "predictions": pages.predict_calls(model=model.name),
                "metric": metric,
                "value": value,
                "why": why,
                "trend": history.trend(model=model, metric=metric),
                "instances": deploy.serving_counts(model=model, among=running),
            }
        )
    return render(request, "dashboard/home.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@page("catalogue.add_mlmodel", "creating a model")
def model_create(request):
    form = forms.ModelCreateForm(_posted(request))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                model = services.model_create(
                    name=data["name"],
                    flavor=data["flavor"],
                    description=data["description"],
                    metadata=data["metadata"],
                    location=data["location"] or None,
                    owner=request.user,
                    options={"horizon": data["horizon"]} if data.get("horizon") is not None else None,
                )
            except RhythmicError as exc:
                status = form_error(form, exc)
            else:
                messages.success(request, f"Created {model.name}. Upload its first version.")
                return redirect("dashboard:version-upload", name=model.name)
    return render(request, "dashboard/model_create.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@page("catalogue.delete_mlmodel", "deleting a model")
def model_delete(request, name: str):
    model = services.get_model_or_404(name)
    if request.method == "POST":
        services.model_delete(model=model)
        messages.success(request, f"Deleted {name} with its versions, learn log and history.")
        return redirect("dashboard:home")
    context = {"model": model, "footprint": pages.model_footprint(model=model)}
    return render(request, "dashboard/model_delete.html", context)


# --- model Dashboard -------------------------------------------------------------------------------


@page()
def model_detail(request, name: str):
    model = services.get_model_or_404(name)
    return render(request, "dashboard/model_detail.html", model_detail_context(model))


def model_detail_context(model, **extra) -> dict:
    """The Dashboard's context (``extra``: the bound forms of a refused action, shown with their errors)."""
    versions = list(selectors.version_list(model=model))
    return {
        "model": model,
        "flavor": get_flavor(model.flavor),
        "versions": versions,
        "deployments": selectors.deployment_list(model=model)[:50],
        "serving_instances": deploy.serving_instances(model=model),
        "deploy_tasks": deploy.list_for(model=model)[:20],
        "rollback_target": services.rollback_target(model=model) if model.production_version_id else None,
        "policy": policies.policy_get(model=model),
        "waiting": any(v.status in (ModelVersion.Status.PENDING, ModelVersion.Status.VALIDATING) for v in versions),
        "tab": "dashboard",
        **extra,
    }


@require_http_methods(["GET", "POST"])
@page(CHANGE_MODEL, "changing a model")
def model_update(request, name: str):
    model = services.get_model_or_404(name)
    initial = {
        "description": model.description,
        "metadata": forms.format_metadata(model.metadata),
        "location": model.location.name if model.location else "",
    }
    form = forms.ModelUpdateForm(_posted(request), initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.model_update(
                    model=model,
                    description=data["description"],
                    metadata=data["metadata"],
                    location=data["location"] or None,
                )
            except RhythmicError as exc:
                status = form_error(form, exc)
            else:
                messages.success(request, f"Saved {model.name}'s description, metadata and location.")
                return redirect(dashboard_url(model))
    return render(request, "dashboard/model_update.html", {"model": model, "form": form}, status=status)


@require_http_methods(["GET", "POST"])
@page("catalogue.add_modelversion", "uploading a version (loading an artifact runs its code)")
def version_upload(request, name: str):
    model = services.get_model_or_404(name)
    form = forms.VersionUploadForm(_posted(request), request.FILES if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                uploaded = services.model_version_upload(
                    name=model.name,
                    data=data["file"].read(),
                    fmt=data["format"],
                    requirements=data["requirements"],
                    message=data["message"],
                    input_example=data["input_example"],
                    author=request.user,
                )
            except RhythmicError as exc:
                status = form_error(form, exc)
            else:
                _upload_message(request, uploaded.version, uploaded.version_created)
                return redirect(dashboard_url(model, f"v{uploaded.version.number}"))
    return render(request, "dashboard/version_upload.html", {"model": model, "form": form}, status=status)


def _upload_message(request, version: ModelVersion, created: bool) -> None:
    version.refresh_from_db(fields=["status", "validation_report"])  # validation may have run inline
    label = f"v{version.number}"
    if not created:
        messages.info(request, f"These bytes are already {label} (same sha256): nothing new was stored.")
    elif version.status == ModelVersion.Status.FAILED:
        summary = version.validation_report.get("summary", "see its validation report")
        messages.error(request, f"Uploaded {label}, but it failed validation: {summary}")
    elif version.status == ModelVersion.Status.READY:
        messages.success(request, f"Uploaded {label}: it passed validation and can be promoted.")
    else:
        messages.info(request, f"Uploaded {label}: validation is running; this page updates when it finishes.")


def _confirm(request, model, *, action: str, title: str, consequence: str, service, button: str, done: str):
    """A confirmation page with a note; on POST, ``service(note=...)`` and back to the Dashboard."""
    form = forms.NoteForm(_posted(request))
    context = {"model": model, "form": form, "title": title, "consequence": consequence, "button": button}
    context["action"] = action
    if request.method == "POST" and form.is_valid():
        try:
            result = service(note=form.cleaned_data["note"])
        except RhythmicError as exc:
            form_error(form, exc)
            return render(request, "dashboard/confirm.html", context, status=exc.status)
        messages.success(request, done(result) if callable(done) else done)
        return redirect(dashboard_url(model, "history"))
    return render(request, "dashboard/confirm.html", context, status=400 if request.method == "POST" else 200)


@require_http_methods(["GET", "POST"])
@page(CHANGE_MODEL, "promoting a version")
def version_promote(request, name: str, number: int):
    model = services.get_model_or_404(name)
    version = services.get_version_or_404(model, number)
    current = model.production_version
    change = f"from v{current.number} to v{version.number}" if current else f"to v{version.number} (none before)"
    return _confirm(
        request,
        model,
        action="promote",
        title=f"Promote {model.name} v{version.number} to production?",
        consequence=(
            f"Every live serving process of the model's location pre-loads v{version.number}, then production "
            f"switches {change} at once. Predictions and learns go to v{version.number} from the next request; the "
            "deploy and each process's readiness are recorded in the deployment history."
        ),
        service=lambda note: services.deployment_deploy(version=version, user=request.user, note=note),
        button=f"Promote v{version.number}",
        done=lambda deployment: (
            f"{model.name} v{version.number} is in production."
            if deployment is not None
            else f"{model.name} v{version.number} is deploying: its serving processes are pre-loading it."
        ),
    )


@require_http_methods(["GET", "POST"])
@page(CHANGE_MODEL, "deploying a version")
def version_deploy(request, name: str, number: int):
    model = services.get_model_or_404(name)
    version = services.get_version_or_404(model, number)
    locations = [location.name for location in selectors.location_list()]
    initial = {"location": model.location.name if model.location else ""}
    form = forms.DeployForm(_posted(request), initial=initial, locations=locations)
    context = {
        "model": model,
        "form": form,
        "action": "deploy",
        "title": f"Deploy {model.name} v{version.number}?",
        "consequence": (
            f"Every live serving process of the location pre-loads v{version.number}, then production switches to "
            "it (and the model moves, for another location). If no process there is live, one lacks a package "
            "the version requires, or one is not ready in time, production stays as it is and the deploy says why."
        ),
        "button": f"Deploy v{version.number}",
    }
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            task = deploy.deploy(
                version=version,
                location=data["location"] or None,
                user=request.user,
                note=data["note"],
                timeout_s=data["timeout_s"],
            )
        except RhythmicError as exc:
            return render(request, "dashboard/confirm.html", context, status=form_error(form, exc))
        task = deploy.get(task.pk)
        if task.status == task.Status.SUCCEEDED:
            messages.success(request, f"{model.name} v{version.number} is in production.")
        elif task.status == task.Status.FAILED:
            messages.error(request, f"The deploy failed: {task.reason}")
        else:
            messages.info(request, f"{model.name} v{version.number} is deploying: its serving processes pre-load it.")
        return redirect(dashboard_url(model, f"deploy-{task.pk}"))
    return render(request, "dashboard/confirm.html", context, status=400 if request.method == "POST" else 200)


@require_http_methods(["GET", "POST"])
@page(CHANGE_MODEL, "rolling back a model")
def model_rollback(request, name: str):
    model = services.get_model_or_404(name)
    target = services.rollback_check(model=model)  # its Conflict is the page's error (see page())
    current = model.production_version.number
    return _confirm(
        request,
        model,
        action="rollback",
        title=f"Roll {model.name} back from v{current} to v{target.number}?",
        consequence=(
            f"Production returns to v{target.number}, the version before v{current}, in every serving process. "
            f"v{current} stays in the catalogue and can be promoted again."
        ),
        service=lambda note: services.deployment_rollback(model=model, user=request.user, note=note),
        button=f"Roll back to v{target.number}",
        done=f"{model.name} rolled back to v{target.number}.",
    )


@require_http_methods(["GET", "POST"])
@page(CHANGE_MODEL, "retiring a version")
def version_retire(request, name: str, number: int):
    model = services.get_model_or_404(name)
    version = services.get_version_or_404(model, number)
    live = model.production_version_id == version.pk
    consequence = f"v{version.number} can no longer be promoted; its artifact stays downloadable."
    if live:
        consequence = (
            f"v{version.number} is in production: after retiring it, {model.name} has NO production version and "
            "answers predictions with an error until you promote another one. " + consequence
        )
    return _confirm(
        request,
        model,
        action="retire",
        title=f"Retire {model.name} v{version.number}?",
        consequence=consequence,
        service=lambda note: services.version_retire(version=version, user=request.user, note=note),
        button=f"Retire v{version.number}",
        done=f"{model.name} v{version.number} is retired.",
    )


@page()
def compare(request, name: str):
    model = services.get_model_or_404(name)
    numbers = pages.version_numbers(model=model)
    defaults = {"a": numbers[1] if len(numbers) > 1 else None, "b": numbers[0] if numbers else None}
    form = forms.CompareForm(request.GET or None, initial=defaults, numbers=numbers)
    context = {"model": model, "form": form, "numbers": numbers, "tab": "compare", "flavor": get_flavor(model.flavor)}
    if len(numbers) < 2:
        return render(request, "dashboard/compare.html", context)
    a, b = (form.cleaned_data["a"], form.cleaned_data["b"]) if form.is_valid() else (defaults["a"], defaults["b"])
    if request.GET and not form.is_valid():
        return render(request, "dashboard/compare.html", context, status=400)
    sides = []
    for number in (a, b):
        version = services.get_version_or_404(model, number)
        if version.status in (ModelVersion.Status.READY, ModelVersion.Status.RETIRED):
            live = pages.live_metrics(model=model.name, version=number)
        else:
            live = pages.LiveMetrics(version=number, unavailable=f"v{number} is {version.status}: it cannot serve")
        sides.append({"version": version, "live": live})
    metric_names = list(get_flavor(model.flavor).metrics)
    context |= {
        "a": a,
        "b": b,
        "sides": sides,
        "training": pages.training_rows([side["version"] for side in sides]),
        "rows": [(m, [side["live"].values.get(m) for side in sides]) for m in metric_names],
        "series": _chart_series(model, metric_names, [a, b]),
    }
    return render(request, "dashboard/compare.html", context)


def _chart_series(model, metric_names: list[str], numbers: list[int]) -> dict:
    """{metric: {version: [[iso time, value], ...]}} for the charts' JSON."""
    found = history.metrics_history(model=model, metrics=metric_names, versions=numbers)
    return {
        name: {str(n): [[t.isoformat(), v] for t, v in points] for n, points in by_version.items()}
        for name, by_version in found.items()
    }


# --- settings: locations and the API token ---------------------------------------------------------

NEW_TOKEN_SESSION_FIELD = "dashboard.new_token"  # noqa: S105 - a session key name, not a secret


@page()
def settings_page(request):
    token = tokens.token_get(user=request.user)
    context = {
        "locations": selectors.location_list(),
        "location_form": forms.LocationCreateForm(),
        "token": token,
        "new_key": request.session.pop(NEW_TOKEN_SESSION_FIELD, None),
    }
    return render(request, "dashboard/settings.html", context)


@require_POST
@page("catalogue.add_location", "creating a location")
def location_create(request):
    form = forms.LocationCreateForm(request.POST)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            location = services.location_create(
                name=data["name"], description=data["description"], is_default=data["is_default"]
            )
        except RhythmicError as exc:
            status = form_error(form, exc)
        else:
            messages.success(request, f"Created location {location.name}.")
            return redirect("dashboard:settings")
    context = {
        "locations": selectors.location_list(),
        "location_form": form,
        "token": tokens.token_get(user=request.user),
    }
    return render(request, "dashboard/settings.html", context, status=status)


@require_POST
@page("catalogue.change_location", "changing the default location")
def location_default(request, name: str):
    location = selectors.location_get(name=name)
    if location is None:
        return error_page(request, f"no location named {name!r}", 404)
    services.location_set_default(location=location)
    messages.success(request, f"New models now go to {location.name} when created without a location.")
    return redirect("dashboard:settings")


@require_POST
@page()
def token_issue(request):
    token = tokens.token_issue(user=request.user)
    request.session[NEW_TOKEN_SESSION_FIELD] = token.key
    return redirect(reverse("dashboard:settings") + "#token")


@require_POST
@page()
def token_revoke(request):
    if tokens.token_revoke(user=request.user):
        messages.success(request, "Your API token is revoked: requests with it are refused from now on.")
    else:
        messages.info(request, "You had no API token.")
    return redirect(reverse("dashboard:settings") + "#token")
