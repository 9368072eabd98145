"""Rows predicted by one named live version (or by whichever answers), and what a model's live versions are.

For transports that name a version in the request (the Open Inference Protocol's ``/versions/{v}/infer``): the
same checks, pending predictions and observers as ``serving.predict_many``, but the answers stay Python values
(a classifier's labels keep their type) and a named version answers every row instead of production or canary.
"""

from dataclasses import dataclass
from typing import Any

from catalogue.errors import Conflict, InvalidInput, NotFound, RhythmicError
from catalogue.models import ModelVersion
from serving import inference, log
from serving.codec import encode_prediction
from serving.process import current
from serving.replicas import ModelEntry, Replica


@dataclass
class Live:
    """A model as a protocol describes it: its flavor, its live version numbers (production first), and the
    input example of the version asked about (the production one when none is named)."""

    name: str
    flavor: str
    versions: list[int]
    version: int | None
    input_example: dict | None


def live(*, model: str, version: int | None = None) -> Live:
    """The model's live versions, and ``version``'s input example (NotFound for a version the model lacks)."""
    entry = current().replicas.entry(model)
    numbers = dict(ModelVersion.objects.filter(pk__in=entry.learning).values_list("pk", "number"))
    versions = [numbers[pk] for pk in entry.learning if pk in numbers]
    if version is None:
        found = ModelVersion.objects.filter(pk=entry.production_version_id) if entry.production_version_id else None
    else:
        found = ModelVersion.objects.filter(model_id=entry.model_id, number=version)
    row = found.values_list("number", "input_example").first() if found is not None else None
    if version is not None and row is None:
        raise NotFound(f"{model} has no version {version}", field="version")
    return Live(model, entry.flavor.name, versions, row[0] if row else None, row[1] if row else None)


def _live_replica(entry: ModelEntry, version: int) -> Replica:
    """The replica of ``version`` if it is live (production, canary or a challenger); a refusal otherwise."""
    pk = ModelVersion.objects.filter(model_id=entry.model_id, number=version).values_list("pk", flat=True).first()
    if pk is None:
        raise NotFound(f"{entry.name} has no version {version}", field="version")
    if pk not in entry.learning:
        raise Conflict(
            f"{entry.name} v{version} is not live: only the production version, the canary and the challengers "
            "answer (promote it, or add it as a challenger)",
            code="not_live",
            field="version",
        )
    return entry.replica(pk)


def ready(*, model: str, version: int | None = None) -> int:
    """The number of the version that would answer (``version`` itself if live); raises why it cannot."""
    entry = inference._served(model)
    with entry.lock:
        replica = entry.production() if version is None else _live_replica(entry, version)
        return replica.number


@dataclass
class Rows:
    """What a model answered to n rows: its flavor, and one ``Prediction`` or ``RhythmicError`` per row."""

    flavor: str
    results: list


def predict_rows(*, model: str, rows: list[dict], ids: list | None = None, version: int | None = None) -> Rows:
    """Predict n rows of features, each with every feature of the answering version's input example; row i is
    kept under ``ids[i]`` for a learn.

    With ``version``, that live version answers every row; without, production (or the canary for its share),
    as ``serving.predict_many``. A forecasting model is refused: it forecasts a horizon, not rows."""
    items = inference._clean_batch(rows)
    ids = ids if ids is not None else [None] * len(items)
    with current().timings.timed(model, "predict_many"):
        entry = inference._served(model)
        if entry.flavor.learn_style == "forecast":
            raise InvalidInput(
                f"{model} is a forecasting model: it forecasts a horizon, not rows of features; send a predict "
                f"with a horizon (POST /api/v1/models/{model}/predict)"
            )
        _check_example(entry, version, items[0] if isinstance(items[0], dict) else {})
        results: list = []
        with entry.lock:
            # Refused once for the request, not once per row: no production, or a version that is not live
            if version is None:
                entry.production()
                pinned = None
            else:
                pinned = _live_replica(entry, version)
            for features, prediction_id in zip(items, ids, strict=True):
                try:
                    prediction_id = inference._clean_id(prediction_id)
                    features = inference._clean_request(entry, features, None, prediction_id)
                    if pinned is None:
                        results.append(inference._predict_one(entry, features, prediction_id))
                    else:
                        results.append(_predict_by(entry, pinned, features, prediction_id))
                except RhythmicError as exc:
                    results.append(exc)
        inference._predicted(entry, [r for r in results if isinstance(r, inference._Predicted)])
    return Rows(entry.flavor.name, [r.answer if isinstance(r, inference._Predicted) else r for r in results])


def _check_example(entry: ModelEntry, version: int | None, features: dict) -> None:
    """Every feature of the answering version's input example must be in the rows (its metadata lists them)."""
    if version is None:
        found = ModelVersion.objects.filter(pk=entry.production_version_id)
    else:
        found = ModelVersion.objects.filter(model_id=entry.model_id, number=version)
    example = found.values_list("input_example", flat=True).first() if entry.production_version_id or version else None
    missing = [name for name in example or {} if name not in features]
    if missing:
        raise InvalidInput(
            f"missing input {', '.join(map(repr, missing))}: the model's metadata lists its inputs", field="inputs"
        )


def _predict_by(entry: ModelEntry, replica: Replica, features: dict, prediction_id: Any) -> "inference._Predicted":
    """``inference._predict_one`` with the answering replica chosen by the caller: the other learning versions
    predict beside it for the pending row, as they do beside production."""
    prediction = inference._predict_with(entry, replica, features)
    pending = None
    if prediction_id is not None:
        key = log.pending_key(prediction_id)
        shadow = inference._shadow_predictions(entry, replica.version_id, features)
        pending = (key, replica.version_id, features, encode_prediction(prediction), shadow)
    answer = inference.Prediction(entry.name, replica.number, prediction, entry.applied_seq, prediction_id)
    return inference._Predicted(answer, features, pending)
