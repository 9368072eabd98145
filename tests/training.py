"""Helpers of the training-job tests: river's bundled TrumpApproval rows written as a CSV, stored as a dataset."""

import csv
import io
import itertools

from river import datasets

from catalogue.datasets.services import dataset_create


def trump_rows(n: int | None = None, *, skip: int = 0) -> list[tuple[dict, float]]:
    return list(itertools.islice(datasets.TrumpApproval(), skip, None if n is None else skip + n))


def csv_bytes(rows: list[tuple[dict, object]], *, target: str = "approval") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*rows[0][0], target])
    writer.writerows([*x.values(), y] for x, y in rows)
    return out.getvalue().encode()


def trump_dataset(name: str = "trump", n: int | None = 300, *, skip: int = 0):
    """A dataset of TrumpApproval rows ``skip``..``skip + n`` (all of them with ``n=None``), target ``approval``."""
    return dataset_create(name=name, content=csv_bytes(trump_rows(n, skip=skip)), target="approval", filename="t.csv")
