"""Storing predictions in JSON without losing label types.

A classifier answers ``{True: 0.8, False: 0.2}``; JSON would turn the keys into strings and the replayed
metrics would then differ. Stored predictions keep probability dicts as ``{"proba": [[label, p], ...]}``.
"""

from typing import Any


def encode_prediction(prediction: Any) -> Any:
    if isinstance(prediction, dict):
        return {"proba": [[label, p] for label, p in prediction.items()]}
    return {"value": prediction}


def decode_prediction(stored: Any) -> Any:
    if stored is None:
        return None
    if "proba" in stored:
        return {label: p for label, p in stored["proba"]}
    return stored["value"]


def jsonable(prediction: Any) -> Any:
    """A prediction as API clients receive it: probability dicts get string keys, as JSON requires."""
    if isinstance(prediction, dict):
        return {_key(label): p for label, p in prediction.items()}
    return prediction


def _key(label: Any) -> str:
    return label if isinstance(label, str) else str(label)
