"""Writes of datasets: store a checked file with its schema, delete one. Every interface calls these.

A dataset built from a model's learn log is written by ``serving.datasets`` (the log is serving's), which
calls ``dataset_create`` with the JSON Lines it wrote.
"""

import hashlib
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError

from catalogue.datasets import parsing
from catalogue.errors import Conflict, InvalidInput, TooLarge
from catalogue.models import Dataset, MLModel
from catalogue.services import NAME_RE


def max_bytes() -> int:
    return settings.RHYTHMIC_MAX_DATASET_BYTES


def check_size(size: int, *, what: str = "the file") -> None:
    """TooLarge (413) when ``size`` bytes pass RHYTHMIC_MAX_DATASET_BYTES: call it before reading a file whole."""
    if size > max_bytes():
        raise TooLarge(
            f"{what} is {size} bytes; a dataset holds at most {max_bytes()} (RHYTHMIC_MAX_DATASET_BYTES)", field="file"
        )


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(
            f"name must be 1-100 lowercase letters, digits, '-' or '_', starting with a letter or digit; got {name!r}",
            field="name",
        )
    return name


@transaction.atomic
def dataset_create(
    *,
    name: str,
    content: bytes,
    target: str,
    fmt: str | None = None,
    filename: str = "",
    description: str = "",
    types: dict[str, str] | None = None,
    user=None,
    source_model: MLModel | None = None,
    from_seq: int | None = None,
    to_seq: int | None = None,
    strict: bool = True,
) -> Dataset:
    """Check ``content`` (CSV or JSON Lines), infer its schema and store it as dataset ``name``.

    ``fmt`` unset: guessed from ``filename``, then from the first character. ``target`` must be a column.
    ``strict=False`` is for learn-log datasets (see ``parsing.inspect``).
    """
    _clean_name(name)
    if not isinstance(target, str) or not target:
        raise InvalidInput("target must name the column holding the ground truth", field="target")
    if not isinstance(description, str):
        raise InvalidInput("description must be a string", field="description")
    if types is not None and not isinstance(types, dict):
        raise InvalidInput('types must be a JSON object like {"zip": "string"}', field="types")
    check_size(len(content))
    if not content:
        raise InvalidInput("the file is empty: send a CSV or JSON Lines file", field="file")
    if Dataset.objects.filter(name=name).exists():
        raise Conflict(f"a dataset named {name!r} already exists", field="name")
    fmt = fmt or parsing.guess_format(filename, content)
    schema = parsing.inspect(content, fmt=fmt, types=types, strict=strict)
    if target not in schema.names:
        shown = ", ".join(repr(n) for n in schema.names[:20]) + (", ..." if len(schema.names) > 20 else "")
        raise InvalidInput(f"target {target!r} is not a column of the file; its columns: {shown}", field="target")
    if len(target) > Dataset._meta.get_field("target").max_length:
        raise InvalidInput("the target column's name is longer than 200 characters", field="target")
    try:
        with transaction.atomic():
            return Dataset.objects.create(
                name=name,
                description=description,
                format=fmt,
                target=target,
                content=content,
                sha256=hashlib.sha256(content).hexdigest(),
                size=len(content),
                rows=schema.rows,
                columns=schema.columns,
                source_model=source_model,
                from_seq=from_seq,
                to_seq=to_seq,
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )
    except IntegrityError:  # lost a race with a concurrent create of the same name
        raise Conflict(f"a dataset named {name!r} already exists", field="name") from None


@transaction.atomic
def dataset_delete(*, dataset: Dataset) -> None:
    """Delete a dataset; refused (409) while something that must keep it (a version trained on it) points to it."""
    try:
        with transaction.atomic():
            Dataset.objects.filter(pk=dataset.pk).delete()
    except (ProtectedError, RestrictedError) as exc:
        holders = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", None) or ()
        names = sorted({str(obj) for obj in holders})
        shown = f": {', '.join(names[:5])}{', ...' if len(names) > 5 else ''}" if names else ""
        raise Conflict(f"dataset {dataset.name!r} is the training data of versions that keep it{shown}") from None
