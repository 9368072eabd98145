"""Reading a stored dataset: its rows as (features, ground truth) pairs, in file order, typed by its schema.

CSV goes through the standard library's csv reader; JSON Lines through json. A missing value (an empty CSV
cell, a JSON null or an absent key) is left out of the features, as river expects of a missing feature.
"""

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from catalogue.models import Dataset

_TRUE = {"true", "yes", "1"}


def _typed(value: Any, kind: str) -> Any:
    """A CSV cell (a string) as its column's type; JSON values are already typed."""
    if not isinstance(value, str):
        return value
    if kind == "number":
        number = float(value)
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    if kind == "boolean":
        return value.strip().lower() in _TRUE
    return value


def _records(dataset: Dataset) -> Iterator[dict[str, Any]]:
    text = io.StringIO(bytes(dataset.content).decode("utf-8-sig"))
    if dataset.format == Dataset.Format.CSV:
        yield from csv.DictReader(text)
    else:
        for line in text:
            if line.strip():
                yield json.loads(line)


def dataset_rows(dataset: Dataset, *, start: int = 0) -> Iterator[tuple[dict[str, Any], Any]]:
    """(features, ground truth) of each row from row ``start`` (0-based) on, in file order."""
    kinds = {column["name"]: column["type"] for column in dataset.columns}
    for index, record in enumerate(_records(dataset)):
        if index < start:
            continue
        features = {}
        for name, value in record.items():
            if name == dataset.target or value is None or value == "":
                continue
            features[name] = _typed(value, kinds.get(name, "string"))
        truth = record.get(dataset.target)
        yield features, None if truth in (None, "") else _typed(truth, kinds.get(dataset.target, "string"))
