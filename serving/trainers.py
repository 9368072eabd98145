"""How a training job's model learns a dataset: river models row by row, scored prequentially; scikit-learn
models with ``fit`` (or ``partial_fit``) on all but a holdout, scored on it.

Both call ``report(done, metrics)`` after every RHYTHMIC_TRAINING_CHUNK rows (and at the end); it answers
True when the job was cancelled, and the trainer stops there. Each returns the job's metrics summary, or None
when it stopped for a cancel. A row the model cannot use raises ``TrainingFailed`` naming the row.
"""

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from django.conf import settings

from catalogue import artifacts
from catalogue.flavors import Flavor
from serving.flavor_metrics import new_metrics
from serving.online_metrics import OnlineMetrics

Rows = Iterable[tuple[dict[str, Any], Any]]
Report = Callable[[int, dict], bool]


class TrainingFailed(Exception):
    """Training cannot go on; the message, stored on the job, says why in a user's terms."""


def _chunk() -> int:
    return max(1, settings.RHYTHMIC_TRAINING_CHUNK)


def _summary(metrics: OnlineMetrics, **extra: Any) -> dict:
    return {"values": metrics.values(), "n_scored": metrics.n_folded, "n_not_scored": metrics.n_skipped, **extra}


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


# --- river ---------------------------------------------------------------------------------------


def river_params(obj: Any, params: dict) -> Any:
    """A fresh (untrained) copy of the river model with ``params`` changed (river's ``clone(new_params)``);
    refuses a name the model does not have, which clone would silently ignore."""
    if not params:
        return obj
    _check_names(params, obj._get_params(), path="params")
    try:
        return obj.clone(params)
    except Exception as exc:
        raise TrainingFailed(f"the params could not be applied to {type(obj).__name__}: {_describe(exc)}") from None


def _check_names(given: dict, known: dict, *, path: str) -> None:
    for name, value in given.items():
        if name not in known:
            raise TrainingFailed(f"{path}: the model has no parameter {name!r}; it has: {', '.join(sorted(known))}")
        if isinstance(value, dict) and isinstance(known[name], dict):  # a pipeline step's own parameters
            _check_names(value, known[name], path=f"{path}.{name}")


def train_online(
    *, servable: artifacts.Servable, flavor: Flavor, options: dict, rows: Rows, report: Report
) -> dict | None:
    """Learn each row in file order with ``learn_one``, after predicting it and folding the prediction with the
    row's ground truth into the flavor's metrics: river's ``progressive_val_score`` on the same rows."""
    metrics = new_metrics(flavor, obj=servable.obj, options=options)
    unsupervised = flavor.learn_style == "unsupervised"
    done = skipped = 0
    for done, (features, truth) in enumerate(rows, start=1):
        if truth is None and not unsupervised:
            skipped += 1  # no ground truth to learn from
        else:
            try:
                prediction = servable.predict(features)
            except Exception as exc:
                raise TrainingFailed(f"row {done}: the model could not predict on it: {_describe(exc)}") from None
            metrics.fold(truth, prediction, seq=done, features=features)
            try:
                servable.learn(features, truth)
            except Exception as exc:
                raise TrainingFailed(f"row {done}: the model could not learn it: {_describe(exc)}") from None
        if done % _chunk() == 0 and report(done, _summary(metrics, n_learned=done - skipped, n_no_target=skipped)):
            return None
    summary = _summary(metrics, n_learned=done - skipped, n_no_target=skipped)
    return None if report(done, summary) else summary


# --- scikit-learn ---------------------------------------------------------------------------------


def _columns(servable: artifacts.Servable, names: list[str], method: str) -> list[str]:
    """The feature order of the matrix: the one serving will use for the trained model (``Servable._row``).
    ``fit`` on a plain matrix drops any feature names, so serving sorts the names; ``partial_fit`` keeps them."""
    known = getattr(servable.obj, "feature_names_in_", None)
    if method == "partial_fit" and known is not None:
        return [str(name) for name in known]
    return sorted(names)


def _matrix(rows: Iterator, columns: list[str], first: int) -> tuple[list[list[Any]], list[Any]]:
    X, y = [], []
    for number, (features, truth) in enumerate(rows, start=first):
        missing = [name for name in columns if name not in features]
        if missing:
            raise TrainingFailed(
                f"row {number}: no value for {', '.join(map(repr, missing))}; scikit-learn models need every "
                "feature in every row"
            )
        if truth is None:
            raise TrainingFailed(f"row {number}: no value for the target; scikit-learn models need it in every row")
        X.append([features[name] for name in columns])
        y.append(truth)
    return X, y


def train_batch(
    *,
    servable: artifacts.Servable,
    flavor: Flavor,
    options: dict,
    rows: Rows,
    n_rows: int,
    features: list[str],
    method: str,
    params: dict,
    holdout: float,
    report: Report,
) -> dict | None:
    """``fit(X, y, **params)`` (or ``partial_fit`` a chunk at a time) on the rows but the last ``holdout`` share,
    then score those: the estimator's own ``score`` and the flavor's metrics on its predictions."""
    n_holdout = int(n_rows * holdout)
    n_train = n_rows - n_holdout
    if n_train < 1:
        raise TrainingFailed(f"a holdout of {holdout} leaves no row of {n_rows} to train on")
    columns = _columns(servable, features, method)
    rows = iter(rows)
    obj = servable.obj
    if method == "fit":
        X, y = _matrix(islice(rows, n_train), columns, 1)
        try:
            obj.fit(X, y, **params)
        except Exception as exc:
            raise TrainingFailed(f"fit failed: {_describe(exc)}") from None
        done = n_train
        if report(done, {}):
            return None
    else:
        done = 0
        while done < n_train:
            X, y = _matrix(islice(rows, min(_chunk(), n_train - done)), columns, done + 1)
            try:
                obj.partial_fit(X, y, **params)
            except Exception as exc:
                raise TrainingFailed(
                    f"partial_fit failed on rows {done + 1}-{done + len(X)}: {_describe(exc)}"
                ) from None
            done += len(X)
            if report(done, {}):
                return None
    summary: dict[str, Any] = {"n_train": n_train, "n_holdout": n_holdout}
    if n_holdout:
        X, y = _matrix(rows, columns, n_train + 1)
        try:
            summary["score"] = float(obj.score(X, y))
        except Exception as exc:
            raise TrainingFailed(f"scoring the holdout failed: {_describe(exc)}") from None
        metrics = new_metrics(flavor, options=options)
        for row, truth in zip(X, y, strict=True):
            prediction = servable.predict(dict(zip(columns, row, strict=True)))
            metrics.fold(truth, prediction)
        summary.update(_summary(metrics))
    return None if report(n_rows, summary) else summary
