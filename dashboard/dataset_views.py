"""The Datasets pages: the list with the upload and learn-log forms, a dataset's schema and preview, delete.

Each write checks a Django permission, then calls one service (``catalogue.datasets.services``, or
``serving.datasets`` for a learn-log dataset); a refusal goes on the form, with its status.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from catalogue import services
from catalogue.datasets import dataset_preview, selectors
from catalogue.datasets import services as dataset_services
from catalogue.errors import NotFound, RhythmicError
from dashboard.dataset_forms import DatasetFromLogForm, DatasetUploadForm
from dashboard.views import form_error, page
from serving.datasets import dataset_from_log

ADD = "catalogue.add_dataset"
PREVIEW_ROWS = 20


def _list(request, *, upload=None, from_log=None, status: int = 200):
    context = {
        "datasets": selectors.dataset_list(),
        "upload": upload or DatasetUploadForm(prefix="upload"),
        "from_log": from_log or DatasetFromLogForm(prefix="log"),
    }
    return render(request, "dashboard/datasets.html", context, status=status)


@require_http_methods(["GET", "HEAD"])
@page()
def dataset_list(request):
    return _list(request)


@require_POST
@page(ADD, "creating a dataset")
def dataset_upload(request):
    form = DatasetUploadForm(request.POST, request.FILES, prefix="upload")
    if not form.is_valid():
        return _list(request, upload=form, status=400)
    data = form.cleaned_data
    try:
        dataset = dataset_services.dataset_create(
            name=data["name"],
            content=data["file"].read(),
            target=data["target"],
            fmt=data["format"] or None,
            filename=data["file"].name or "",
            description=data["description"],
            user=request.user,
        )
    except RhythmicError as exc:
        return _list(request, upload=form, status=form_error(form, exc))
    messages.success(request, f"Stored {dataset.name}: {dataset.rows} rows, {len(dataset.columns)} columns.")
    return redirect("dashboard:dataset", pk=dataset.pk)


@require_POST
@page(ADD, "creating a dataset")
def dataset_from_model(request):
    form = DatasetFromLogForm(request.POST, prefix="log")
    if not form.is_valid():
        return _list(request, from_log=form, status=400)
    data = form.cleaned_data
    try:
        dataset = dataset_from_log(
            model=services.get_model_or_404(data["model"]),
            name=data["name"],
            from_seq=data["from_seq"],
            to_seq=data["to_seq"],
            user=request.user,
        )
    except RhythmicError as exc:
        if exc.field is None and exc.status == 404:
            exc.field = "model"
        return _list(request, from_log=form, status=form_error(form, exc))
    messages.success(
        request, f"Stored {dataset.name}: learn #{dataset.from_seq} to #{dataset.to_seq}, {dataset.rows} rows."
    )
    return redirect("dashboard:dataset", pk=dataset.pk)


def _get(pk: int, *, with_content: bool = False):
    dataset = selectors.dataset_get(dataset_id=pk, with_content=with_content)
    if dataset is None:
        raise NotFound(f"no dataset {pk}")
    return dataset


@require_http_methods(["GET", "HEAD"])
@page()
def dataset_detail(request, pk: int):
    dataset = _get(pk, with_content=True)
    names = [column["name"] for column in dataset.columns]
    rows = [[row[name] for name in names] for row in dataset_preview(dataset, limit=PREVIEW_ROWS)]
    context = {"dataset": dataset, "names": names, "rows": rows, "preview_rows": PREVIEW_ROWS}
    return render(request, "dashboard/dataset_detail.html", context)


@require_POST
@page("catalogue.delete_dataset", "deleting a dataset")
def dataset_delete(request, pk: int):
    dataset = _get(pk)
    dataset_services.dataset_delete(dataset=dataset)
    messages.success(request, f"Deleted dataset {dataset.name}.")
    return redirect("dashboard:datasets")
