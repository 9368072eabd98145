"""Flavors: what a model of each kind must implement, how its ground truth looks and which metrics it keeps.

To add a flavor, add one ``Flavor`` to ``FLAVORS``; validation, serving and the API read it from here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real
from typing import Any


class GroundTruthError(ValueError):
    """The ground truth does not fit the model's flavor."""


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise GroundTruthError(f"the ground truth must be a number for a regression model, not {value!r}")
    return float(value)


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
    #: The river base class a river model of this flavor must be (river.base.<name>).
    river_base: str | None = None
    #: The model must handle more than two classes (river's ``_multiclass``).
    needs_multiclass: bool = False

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
        ),
    )
}

FLAVOR_CHOICES = [(flavor.name, flavor.label) for flavor in FLAVORS.values()]


def get_flavor(name: str) -> Flavor:
    try:
        return FLAVORS[name]
    except KeyError:
        raise ValueError(f"unknown flavor {name!r}; choose one of: {', '.join(FLAVORS)}") from None


def jsonable(prediction: Any) -> Any:
    """A prediction as API clients receive it: probability dicts get string keys, as JSON requires."""
    if isinstance(prediction, dict):
        return {_key(label): p for label, p in prediction.items()}
    return prediction


def _key(label: Any) -> str:
    return label if isinstance(label, str) else str(label)
