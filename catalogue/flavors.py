"""Flavors: what a model of each kind must implement, how its ground truth looks and which metrics it keeps.

To add a flavor, add one ``Flavor`` to ``FLAVORS``; validation, serving and the API read it from here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real
from typing import Any


class GroundTruthError(ValueError):
    """The ground truth does not fit the model's flavor."""


def _numeric(kind: str) -> Callable[[Any], float]:
    def clean(value: Any) -> float:
        if type(value) is float:  # the usual case, without the abstract-class check
            return value
        if isinstance(value, bool) or not isinstance(value, Real):
            raise GroundTruthError(f"the ground truth must be a number for a {kind}, not {value!r}")
        return float(value)

    return clean


_number = _numeric("regression model")


def _no_ground_truth(value: Any) -> None:
    if value is not None:
        raise GroundTruthError(
            "a clustering model learns features only: send the features (or the id of a prediction) and no "
            f"ground_truth (got {value!r})"
        )


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise GroundTruthError(f"the ground truth must be true/false or 0/1 for a binary model, not {value!r}")


def _label(value: Any) -> Any:
    if isinstance(value, str | int | bool) or (isinstance(value, float) and value == value):
        return value
    raise GroundTruthError(f"the ground truth must be a JSON scalar label (string, number or bool), not {value!r}")


def _optional_boolean(value: Any) -> bool | None:
    return None if value is None else _boolean(value)


@dataclass(frozen=True)
class Flavor:
    name: str
    label: str
    #: Online methods, in order of preference, used to answer a prediction.
    predict_methods: tuple[str, ...]
    #: river.metrics class names folded from (prediction, ground truth).
    metrics: tuple[str, ...]
    #: Validates and normalises a ground truth; raises GroundTruthError.
    clean_ground_truth: Callable[[Any], Any]
    ground_truth_required: bool = True
    #: Batch (scikit-learn style) methods that make a predict-only model acceptable for this flavor.
    batch_methods: tuple[str, ...] = ()
    #: The river base class a river model of this flavor must be: river.base.<name>, or a dotted path under
    #: river (``time_series.base.Forecaster``).
    river_base: str | None = None
    #: The model must handle more than two classes (river's ``_multiclass``).
    needs_multiclass: bool = False
    #: How the model learns: "supervised" learn_one(x, y); "unsupervised" learn_one(x); "forecast"
    #: learn_one(y, x); "reco" learn_one(user, item, y, x) with user and item taken from the features.
    learn_style: str = "supervised"
    #: Methods the model must have beside learn_one, each with the positional arguments it must take.
    interface: tuple[tuple[str, int], ...] = ()
    #: Options a model of this flavor takes at creation: {name: default}.
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def headline_metric(self) -> str:
        return self.metrics[0]


FLAVORS: dict[str, Flavor] = {
    flavor.name: flavor
    for flavor in (
        Flavor(
            name="regression",
            label="Regression",
            predict_methods=("predict_one",),
            metrics=("MAE", "RMSE", "SMAPE"),
            clean_ground_truth=_number,
            batch_methods=("predict",),
            river_base="Regressor",
        ),
        Flavor(
            name="binary",
            label="Binary classification",
            predict_methods=("predict_proba_one", "predict_one"),
            metrics=("Accuracy", "LogLoss", "Precision", "Recall", "F1"),
            clean_ground_truth=_boolean,
            batch_methods=("predict_proba", "predict"),
            river_base="Classifier",
        ),
        Flavor(
            name="multiclass",
            label="Multi-class classification",
            predict_methods=("predict_proba_one", "predict_one"),
            metrics=(
                "Accuracy",
                "CrossEntropy",
                "MacroPrecision",
                "MacroRecall",
                "MacroF1",
                "MicroPrecision",
                "MicroRecall",
                "MicroF1",
            ),
            clean_ground_truth=_label,
            batch_methods=("predict_proba", "predict"),
            river_base="Classifier",
            needs_multiclass=True,
        ),
        Flavor(
            name="anomaly",
            label="Anomaly detection",
            predict_methods=("score_one",),
            metrics=("ROCAUC",),
            clean_ground_truth=_optional_boolean,
            ground_truth_required=False,
            river_base="AnomalyDetector",
            learn_style="unsupervised",
        ),
        Flavor(
            name="forecasting",
            label="Time-series forecasting",
            predict_methods=("forecast",),
            metrics=("MAE", "RMSE"),
            clean_ground_truth=_numeric("forecasting model (the next value of the series)"),
            river_base="time_series.base.Forecaster",
            learn_style="forecast",
            interface=(("forecast", 1), ("learn_one", 1)),
            options=(("horizon", 12),),
        ),
        Flavor(
            name="clustering",
            label="Clustering",
            predict_methods=("predict_one",),
            metrics=("n_clusters",),
            clean_ground_truth=_no_ground_truth,
            ground_truth_required=False,
            river_base="Clusterer",
            learn_style="unsupervised",
            interface=(("predict_one", 1), ("learn_one", 1)),
        ),
        Flavor(
            name="recommendation",
            label="Recommendation",
            predict_methods=("predict_one",),
            metrics=("MAE", "RMSE"),
            clean_ground_truth=_numeric("recommendation model (the rating)"),
            river_base="reco.base.Ranker",
            learn_style="reco",
            interface=(("predict_one", 2), ("rank", 2), ("learn_one", 3)),
        ),
    )
}

#: The flavors chantilly knows (its ``/api/init``), and the anomaly flavor Rhythmic has always allowed there.
CHANTILLY_FLAVORS = ("regression", "binary", "multiclass", "anomaly")

#: The largest forecast horizon a request or a model's metrics may ask for.
MAX_HORIZON = 1000

FLAVOR_CHOICES = [(flavor.name, flavor.label) for flavor in FLAVORS.values()]


def get_flavor(name: str) -> Flavor:
    try:
        return FLAVORS[name]
    except KeyError:
        raise ValueError(f"unknown flavor {name!r}; choose one of: {', '.join(FLAVORS)}") from None


def clean_options(flavor: Flavor, options: Any) -> dict:
    """A model's creation options for its flavor, with defaults filled in; raises ValueError saying what is wrong."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ValueError('options must be a JSON object, like {"horizon": 12}')
    allowed = dict(flavor.options)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = f"it takes: {', '.join(allowed)}" if allowed else "it takes none"
        raise ValueError(f"a {flavor.name} model has no option {', '.join(map(repr, unknown))} ({takes})")
    cleaned = {**allowed, **options}
    if "horizon" in cleaned:
        cleaned["horizon"] = clean_horizon(cleaned["horizon"], what="options.horizon")
    return cleaned


def clean_horizon(value: Any, *, what: str = "horizon") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_HORIZON:
        raise ValueError(f"{what} must be a whole number from 1 to {MAX_HORIZON}, not {value!r}")
    return value


def jsonable(prediction: Any) -> Any:
    """A prediction as API clients receive it: probability dicts get string keys, as JSON requires."""
    if isinstance(prediction, dict):
        return {_key(label): p for label, p in prediction.items()}
    return prediction


def _key(label: Any) -> str:
    return label if isinstance(label, str) else str(label)


def scalar(value: Any) -> Any:
    """One number for a metric's value: a forecaster's per-step list gives its mean over the steps that have one
    (charts, sparklines, alerts and Prometheus take a number)."""
    if isinstance(value, list):
        steps = [v for v in value if v is not None]
        return sum(steps) / len(steps) if steps else None
    return value
