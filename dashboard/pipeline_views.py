"""The Pipelines pages: the list, a new pipeline, a pipeline's page (versions, history, stage models, a scoring
form), a new version, promote and roll back. Each write checks the permission of its model equivalent, then calls
one function of ``catalogue.pipelines`` (scoring: ``serving.pipelines.predict``, with the inference permission).
"""

import json

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from catalogue import pipelines
from catalogue.errors import RhythmicError
from catalogue.models import MLModel
from dashboard import forms
from dashboard.pipeline_forms import PipelineCreateForm, PipelineScoreForm, PipelineVersionForm, format_stages
from dashboard.views import _posted, form_error, page
from serving import pipelines as served

CHANGE_MODEL = "catalogue.change_mlmodel"
INFER = "catalogue.infer_mlmodel"


@page()
def pipeline_list(request):
    return render(request, "dashboard/pipelines.html", {"pipelines": pipelines.pipeline_list()})


@require_http_methods(["GET", "POST"])
@page("catalogue.add_mlmodel", "creating a pipeline")
def pipeline_create(request):
    form = PipelineCreateForm(_posted(request))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                pipeline = pipelines.pipeline_create(
                    name=data["name"], stages=data["stages"], description=data["description"], owner=request.user
                )
            except RhythmicError as exc:
                status = form_error(_stages_field(form, exc), exc)
            else:
                messages.success(request, f"Created {pipeline.name}: version 1 is in production.")
                return redirect("dashboard:pipeline", name=pipeline.name)
    return render(request, "dashboard/pipeline_create.html", {"form": form}, status=status)


def _stages_field(form, exc: RhythmicError):
    """The catalogue names a stage (``stages[1].as``): the error goes on the stages field."""
    if exc.field and exc.field.startswith("stages"):
        exc.field = "stages"
    return form


@page()
def pipeline_detail(request, name: str):
    pipeline = pipelines.get_pipeline_or_404(name)
    return render(request, "dashboard/pipeline_detail.html", _detail_context(pipeline, PipelineScoreForm()))


def _detail_context(pipeline, score_form, **extra) -> dict:
    versions = list(pipelines.pipeline_versions(pipeline=pipeline))
    names = {stage["model"] for version in versions for stage in version.stages}
    models = {m.name: m for m in MLModel.objects.filter(name__in=names).select_related("production_version")}
    return {
        "pipeline": pipeline,
        "versions": versions,
        "history": pipelines.pipeline_history(pipeline=pipeline),
        "models": models,
        "can_rollback": pipelines.rollback_target(pipeline=pipeline) is not None,
        "score_form": score_form,
        **extra,
    }


@require_http_methods(["POST"])
@page(INFER, "scoring a pipeline")
def pipeline_score(request, name: str):
    """Predict with the production version's stages; the page shows the answer and every stage's output."""
    pipeline = pipelines.get_pipeline_or_404(name)
    form = PipelineScoreForm(request.POST)
    status, answer = 400, None
    if form.is_valid():
        try:
            result = served.predict(pipeline=name, features=form.cleaned_data["features"], id=form.cleaned_data["id"])
        except RhythmicError as exc:
            status = form_error(form, exc)
        else:
            status, answer = 200, result.as_dict()
            answer["shown"] = json.dumps(answer["prediction"])
            for stage in answer["stages"].values():
                stage["shown"] = json.dumps(stage["prediction"])
    context = _detail_context(pipeline, form, score=answer)
    return render(request, "dashboard/pipeline_detail.html", context, status=status)


@require_http_methods(["GET", "POST"])
@page("catalogue.add_modelversion", "creating a pipeline version")
def pipeline_version_create(request, name: str):
    pipeline = pipelines.get_pipeline_or_404(name)
    production = pipeline.production_version
    initial = {"stages": format_stages(production.stages)} if production else {}
    form = PipelineVersionForm(_posted(request), initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                version = pipelines.pipeline_version_create(
                    pipeline=pipeline,
                    stages=form.cleaned_data["stages"],
                    message=form.cleaned_data["message"],
                    author=request.user,
                )
            except RhythmicError as exc:
                status = form_error(_stages_field(form, exc), exc)
            else:
                messages.success(request, f"{pipeline.name} v{version.number} added; promote it to serve it.")
                return redirect("dashboard:pipeline", name=pipeline.name)
    context = {"pipeline": pipeline, "form": form}
    return render(request, "dashboard/pipeline_version.html", context, status=status)


def _confirm(request, pipeline, *, action: str, title: str, consequence: str, service, button: str, done: str):
    """A confirmation page with a note; on POST, ``service(note=...)`` and back to the pipeline's page."""
    form = forms.NoteForm(_posted(request))
    context = {"pipeline": pipeline, "form": form, "title": title, "consequence": consequence, "button": button}
    context["action"] = action
    if request.method == "POST" and form.is_valid():
        try:
            service(note=form.cleaned_data["note"])
        except RhythmicError as exc:
            form_error(form, exc)
            return render(request, "dashboard/pipeline_confirm.html", context, status=exc.status)
        messages.success(request, done)
        return redirect("dashboard:pipeline", name=pipeline.name)
    return render(request, "dashboard/pipeline_confirm.html", context, status=400 if request.method == "POST" else 200)


@require_http_methods(["GET", "POST"])
@page(CHANGE_MODEL, "promoting a pipeline version")
def pipeline_promote(request, name: str, number: int):
    pipeline = pipelines.get_pipeline_or_404(name)
    version = pipelines.get_pipeline_version_or_404(pipeline, number)
    return _confirm(
        request,
        pipeline,
        action="promote",
        title=f"Promote {pipeline.name} v{version.number} to production?",
        consequence=(
            f"The pipeline answers with the stages of v{version.number} from the next request, in every serving "
            "process; the switch is recorded in its history."
        ),
        service=lambda note: pipelines.pipeline_promote(version=version, user=request.user, note=note),
        button=f"Promote v{version.number}",
        done=f"{pipeline.name} v{version.number} is in production.",
    )


@require_http_methods(["GET", "POST"])
@page(CHANGE_MODEL, "rolling back a pipeline")
def pipeline_rollback(request, name: str):
    pipeline = pipelines.get_pipeline_or_404(name)
    target = pipelines.rollback_check(pipeline=pipeline)  # its Conflict is the page's error (see page())
    return _confirm(
        request,
        pipeline,
        action="rollback",
        title=f"Roll {pipeline.name} back to v{target.number}?",
        consequence=f"The pipeline returns to the stages of v{target.number}, in every serving process.",
        service=lambda note: pipelines.pipeline_rollback(pipeline=pipeline, user=request.user, note=note),
        button=f"Roll back to v{target.number}",
        done=f"{pipeline.name} rolled back to v{target.number}.",
    )
