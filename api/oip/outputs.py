"""Predictions as Open Inference Protocol outputs: ``prediction`` (and ``proba_<class>`` for a classifier)."""

from typing import Any

from api.oip.tensors import datatype_of, output

#: The datatype of each flavor's ``prediction`` output, as model metadata announces it.
PREDICTION_DATATYPE = {
    "regression": "FP64",
    "binary": "BOOL",
    "multiclass": "BYTES",
    "anomaly": "FP64",
    "clustering": "INT64",
    "recommendation": "FP64",
    "forecasting": "FP64",
}


def _label(proba: dict) -> Any:
    """river's predict_one from predict_proba_one: the most probable class, the first one on a tie."""
    return max(proba, key=proba.get) if proba else None


def prediction_outputs(flavor: str, predictions: list) -> list[dict]:
    """The output tensors of n predictions: a classifier's probabilities give its label and one proba_ per class
    (0 for a class a row's model did not know yet), in the order the classes first appear."""
    if not any(isinstance(p, dict) for p in predictions):
        return [_typed(flavor, "prediction", predictions)]
    probas = [p if isinstance(p, dict) else {} for p in predictions]
    classes = list(dict.fromkeys(label for proba in probas for label in proba))
    tensors = [_typed(flavor, "prediction", [_label(proba) for proba in probas])]
    for label in classes:
        tensors.append(output(f"proba_{label}", [float(proba.get(label, 0.0)) for proba in probas]))
    return tensors


def _typed(flavor: str, name: str, values: list) -> dict:
    """The flavor's datatype when every value fits it (a multiclass label becomes text); the narrowest otherwise."""
    wanted = PREDICTION_DATATYPE.get(flavor)
    if wanted == "BYTES" and all(v is not None for v in values):
        return output(name, [v if isinstance(v, str) else str(v) for v in values])
    tensor = output(name, values)
    if wanted == "FP64" and tensor["datatype"] == "INT64":  # a regressor that answered whole numbers
        tensor = {**tensor, "datatype": "FP64", "data": [float(v) for v in tensor["data"]]}
    return tensor


def metadata_outputs(flavor: str) -> list[dict]:
    return [{"name": "prediction", "datatype": PREDICTION_DATATYPE.get(flavor, "BYTES"), "shape": [-1]}]


def metadata_inputs(input_example: dict | None) -> list[dict]:
    """One input per feature of the version's input example, typed after its value."""
    return [
        {"name": name, "datatype": datatype_of([value]), "shape": [-1]} for name, value in (input_example or {}).items()
    ]
