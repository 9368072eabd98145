"""Storing predictions in JSON without losing label types.

A classifier answers ``{True: 0.8, False: 0.2}``; JSON would turn the keys into strings and the replayed
metrics would then differ. Stored predictions keep probability dicts as ``{"proba": [[label, p], ...]}``.
"""

from typing import Any

from catalogue.flavors import jsonable

__all__ = ["decode_prediction", "encode_prediction", "jsonable"]


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
