"""Reads of datasets. A selector returns None for a missing dataset; the interface decides it is a 404."""

from typing import Any

from django.db.models import QuerySet

from catalogue.models import Dataset


def dataset_list() -> QuerySet[Dataset]:
    """Every dataset, newest first, without its bytes."""
    return Dataset.objects.defer("content").select_related("source_model", "created_by")


def dataset_get(*, dataset_id: Any, with_content: bool = False) -> Dataset | None:
    """The dataset with this id (an int, or its text), or None; ``with_content`` loads its bytes too."""
    try:
        pk = int(dataset_id)
    except (TypeError, ValueError):
        return None
    datasets = Dataset.objects.select_related("source_model", "created_by")
    if not with_content:
        datasets = datasets.defer("content")
    return datasets.filter(pk=pk).first()


def dataset_get_by_name(*, name: str, with_content: bool = False) -> Dataset | None:
    datasets = Dataset.objects.select_related("source_model", "created_by")
    if not with_content:
        datasets = datasets.defer("content")
    return datasets.filter(name=name).first()
