"""A dataset built from a model's learn log: each entry's features and ground truth, in seq order, as JSON Lines.

The log is read by keyset, RHYTHMIC_BACKTEST_CHUNK entries a query (bounded memory), twice: once for the feature
names (the target column is named ``ground_truth``, or ``ground_truth_2``, ``_3``... when a feature has that
name), once to write the lines. Entries a rewind put aside for any version of the model (``VersionSkip``) are
left out: they were judged poisoned. Then ``catalogue``'s ``dataset_create`` stores the lines.
"""

import io
import json
from typing import Any

from django.conf import settings

from catalogue.datasets.services import check_size, dataset_create
from catalogue.errors import Conflict, InvalidInput
from catalogue.models import Dataset, MLModel
from serving import log
from serving.models import LearnEvent, VersionSkip

TARGET = "ground_truth"


def _seq(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(
            f"{field} must be a learn-log sequence number (a whole number >= 1), not {value!r}", field=field
        )
    return value


def _skips(model: MLModel) -> log.Skips:
    """Every range a rewind put aside, for any version of the model."""
    return tuple(
        VersionSkip.objects.filter(version__model_id=model.pk).order_by("from_seq").values_list("from_seq", "to_seq")
    )


def _entries(model: MLModel, first: int, last: int, skips: log.Skips, columns: tuple[str, ...]):
    """(seq, *columns) of the model's entries first..last, not put aside, in seq order, a chunk per query."""
    chunk = max(1, settings.RHYTHMIC_BACKTEST_CHUNK)
    events = LearnEvent.objects.filter(model_id=model.pk, seq__lte=last).order_by("seq")
    after = first - 1
    while True:
        rows = list(events.filter(seq__gt=after).values_list("seq", *columns)[:chunk])
        if not rows:
            return
        for row in rows:
            if not log.is_skipped(row[0], skips):
                yield row
        after = rows[-1][0]


def target_name(feature_names: set[str]) -> str:
    """``ground_truth``, or the first of ``ground_truth_2``, ``_3``... that no feature is named."""
    name, n = TARGET, 1
    while name in feature_names:
        n += 1
        name = f"{TARGET}_{n}"
    return name


def dataset_from_log(
    *,
    model: MLModel,
    name: str,
    from_seq: Any = None,
    to_seq: Any = None,
    description: str = "",
    user=None,
) -> Dataset:
    """Store learn-log entries ``from_seq``..``to_seq`` (default: 1 to the head now) of ``model`` as a dataset."""
    first = _seq(from_seq, "from_seq") or 1
    head = MLModel.objects.filter(pk=model.pk).values_list("learn_seq", flat=True).first() or 0
    last = _seq(to_seq, "to_seq")
    if last is not None and first > last:
        raise InvalidInput(f"from_seq ({first}) is after to_seq ({last})", field="from_seq")
    if last is None and head < first:
        raise Conflict(f"{model.name}'s learn log holds no entry to keep from #{first} (its head is #{head})")
    last = head if last is None else min(last, head)  # the range it holds, not past the head
    skips = _skips(model)
    names: set[str] = set()
    count = 0
    for _, features in _entries(model, first, last, skips, ("features",)):
        names.update(features)
        count += 1
    if count == 0:
        raise Conflict(f"{model.name}'s learn log holds no entry to keep in #{first}..#{last}")
    target = target_name(names)
    buffer = io.BytesIO()
    for _, features, ground_truth in _entries(model, first, last, skips, ("features", "ground_truth")):
        line = json.dumps({**features, target: ground_truth}, separators=(",", ":"))
        buffer.write(line.encode() + b"\n")
        check_size(buffer.tell(), what=f"the log slice #{first}..#{last} (so far)")
    return dataset_create(
        name=name,
        content=buffer.getvalue(),
        target=target,
        fmt=Dataset.Format.JSONL,
        description=description or f"{model.name}'s learn log #{first}..#{last}",
        user=user,
        source_model=model,
        from_seq=first,
        to_seq=last,
        strict=False,
    )
