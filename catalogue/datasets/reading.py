"""Reading a stored dataset: its rows as (features, ground truth) pairs, in file order, typed by its schema.

CSV goes through the standard library's csv reader; JSON Lines through json. A missing value (an empty CSV
cell, a JSON null or an absent key) is left out of the features, as river expects of a missing feature.
CSV cells are typed by their column (``parsing.csv_value``); JSON values are kept as they are.
"""

import csv
import io
import json
from collections.abc import Iterator
from itertools import islice
from typing import Any

from catalogue.datasets.parsing import csv_value, lines
from catalogue.models import Dataset


def records(dataset: Dataset) -> Iterator[dict[str, Any]]:
    """Each row as {column: typed value}, missing values left out, in file order."""
    text = bytes(dataset.content).decode("utf-8-sig")
    if dataset.format == Dataset.Format.CSV:
        kinds = [column["type"] for column in dataset.columns]
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
        for row in reader:
            if row:
                yield {
                    name: csv_value(cell, kind)
                    for name, cell, kind in zip(header, row, kinds, strict=False)
                    if cell != ""
                }
    else:
        for line in lines(text):
            if line.strip():
                yield {name: value for name, value in json.loads(line).items() if value is not None}


def dataset_rows(dataset: Dataset, *, start: int = 0) -> Iterator[tuple[dict[str, Any], Any]]:
    """(features, ground truth) of each row from row ``start`` (0-based) on, in file order."""
    for record in islice(records(dataset), start, None):
        truth = record.pop(dataset.target, None)
        yield record, truth


def dataset_preview(dataset: Dataset, *, limit: int = 20) -> list[dict[str, Any]]:
    """The first ``limit`` rows, each with every column (null where the value is missing)."""
    names = [column["name"] for column in dataset.columns]
    return [{name: record.get(name) for name in names} for record in islice(records(dataset), limit)]
