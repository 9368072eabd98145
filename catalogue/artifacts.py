"""Artifact formats: turning uploaded bytes into a servable object, and live state into bytes.

``load_artifact`` deserializes by declared format; ``as_servable`` puts one face (predict/learn on one
example) over river models, scikit-learn estimators and ONNX sessions, so serving and validation never
branch on where a model came from.
"""

import hashlib
import io
import pickle
from dataclasses import dataclass
from typing import Any

import dill

from catalogue.flavors import Flavor

FORMATS = ("dill", "pickle", "joblib", "onnx")


class ArtifactError(Exception):
    """The artifact cannot be loaded or used; the message says why in a user's terms."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def guess_format(data: bytes) -> str:
    """The most likely format of raw bytes: ONNX protobufs start with field 1 (ir_version), zlib with 0x78."""
    if data[:1] == b"\x08":
        return "onnx"
    if data[:1] == b"\x78":
        return "joblib"
    return "dill"


def load_artifact(data: bytes, fmt: str) -> Any:
    """Deserialize an artifact. Unpickling runs code: only users allowed to upload can put bytes here."""
    if not data:
        raise ArtifactError("the artifact is empty")
    try:
        if fmt == "dill":
            return dill.loads(data)
        if fmt == "pickle":
            return pickle.loads(data)  # uploads need the add_modelversion permission
        if fmt == "joblib":
            import joblib

            return joblib.load(io.BytesIO(data))
        if fmt == "onnx":
            try:
                import onnxruntime
            except ImportError:
                raise ArtifactError("ONNX models need the onnxruntime package on the server") from None
            return onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    except ArtifactError:
        raise
    except Exception as exc:  # any garbage must become a reason, never a crash
        raise ArtifactError(f"could not load the bytes as {fmt}: {type(exc).__name__}: {exc}") from exc
    raise ArtifactError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def dump_state(obj: Any) -> bytes:
    """Serialize live state; plain pickle is ~10x faster, dill handles lambdas and closures."""
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        return dill.dumps(obj)


def load_state(data: bytes) -> Any:
    return dill.loads(data)


# --- One face over every kind of model ------------------------------------------------------------


@dataclass
class Servable:
    """A loaded model seen through its flavor: ``predict`` answers one example, ``learn`` updates it."""

    obj: Any
    flavor: Flavor
    predict_method: str
    can_learn: bool
    kind: str  # "online", "batch" or "onnx"

    def predict(self, features: dict) -> Any:
        return getattr(self, f"_predict_{self.kind}")(features)

    def learn(self, features: dict, ground_truth: Any) -> None:
        if not self.can_learn:
            raise ArtifactError("this model is predict-only: it has no learn_one or partial_fit")
        if self.kind == "online":
            learn_one(self.obj, self.flavor, features, ground_truth)
        else:
            self.obj.partial_fit(self._row(features), [ground_truth])

    def forecast(self, horizon: int, xs: list[dict] | None) -> list:
        """A forecaster's ``horizon`` next values (``xs``: the exogenous features of each step, or None)."""
        return [_plain(value) for value in self.obj.forecast(horizon, xs=xs)]

    def rank(self, user: Any, items: list, context: dict | None) -> list:
        """A recommender's ``items`` for ``user``, best first (river's ``rank``)."""
        return [_plain(item) for item in self.obj.rank(user, items, x=context)]

    # river-style models answer one dict directly.
    def _predict_online(self, features: dict) -> Any:
        if self.flavor.learn_style == "forecast":  # the one-step forecast with these exogenous features
            return _plain(self.obj.forecast(1, xs=[features])[0])
        if self.flavor.learn_style == "reco":
            user, item, context = reco_parts(features)
            return _plain(self.obj.predict_one(user, item, context))
        if self.flavor.learn_style == "unsupervised" and self.flavor.name == "clustering":
            return _plain(self.obj.predict_one(features))
        return getattr(self.obj, self.predict_method)(features)

    def _row(self, features: dict) -> list[list[Any]]:
        names = getattr(self.obj, "feature_names_in_", None)
        keys = list(names) if names is not None else sorted(features)
        missing = [key for key in keys if key not in features]
        if missing:
            raise ArtifactError(f"missing features: {', '.join(map(str, missing))}")
        return [[features[key] for key in keys]]

    def _predict_batch(self, features: dict) -> Any:
        row = self._row(features)
        if self.predict_method == "predict_proba":
            probabilities = self.obj.predict_proba(row)[0]
            return {_plain(label): float(p) for label, p in zip(self.obj.classes_, probabilities, strict=True)}
        return _plain(self.obj.predict(row)[0])

    def _predict_onnx(self, features: dict) -> Any:
        import numpy as np

        inputs = self.obj.get_inputs()
        row = np.array([[features[key] for key in sorted(features)]], dtype=np.float32)
        outputs = self.obj.run(None, {inputs[0].name: row})
        if self.flavor.name in ("binary", "multiclass") and len(outputs) > 1:
            probabilities = outputs[1][0]
            if isinstance(probabilities, dict):
                return {_plain(label): float(p) for label, p in probabilities.items()}
            return {i: float(p) for i, p in enumerate(probabilities)}
        return _plain(np.asarray(outputs[0]).ravel()[0])


def learn_one(obj: Any, flavor: Flavor, features: dict, ground_truth: Any) -> None:
    """Teach a river-style model one event the way its flavor's models learn (see ``Flavor.learn_style``)."""
    style = flavor.learn_style
    if style == "unsupervised":
        obj.learn_one(features)
    elif style == "forecast":
        obj.learn_one(y=ground_truth, x=features)  # as river.evaluate.evaluate calls it
    elif style == "reco":
        user, item, context = reco_parts(features)
        obj.learn_one(user, item, ground_truth, x=context)
    else:
        obj.learn_one(features, ground_truth)


def reco_parts(features: dict) -> tuple[Any, Any, dict | None]:
    """(user, item, context) of a recommendation model's features: the other keys are the context."""
    context = {key: value for key, value in features.items() if key not in ("user", "item")}
    return features["user"], features["item"], context or None


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones, so predictions serialize to JSON."""
    return value.item() if hasattr(value, "item") else value


def _check_river_kind(obj: Any, flavor: Flavor) -> None:
    """A river model says what it is: a regressor is no binary model even though it has predict_one."""
    from river import base

    if not isinstance(obj, base.Estimator) or flavor.river_base is None:
        return
    if not isinstance(obj, _river_class(flavor.river_base)):
        raise ArtifactError(
            f"{flavor.label.lower()} needs a river {flavor.river_base}; {type(obj).__name__} is not one"
            + (f" (last step: {obj._last_step})" if hasattr(obj, "_last_step") else "")
        )
    if flavor.needs_multiclass and not getattr(obj, "_multiclass", True):
        raise ArtifactError(
            f"{type(obj).__name__} handles two classes only; wrap it for multiclass "
            "(e.g. river.multiclass.OneVsRestClassifier) or pick the binary flavor"
        )


def _river_class(path: str) -> type:
    import importlib

    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(f"river.{module}" if module else "river.base"), name)


def _check_interface(obj: Any, flavor: Flavor) -> None:
    """Each method the flavor needs exists and takes its positional arguments (a forecaster's forecast(horizon),
    a recommender's predict_one(user, item)...)."""
    import inspect

    for method, n_args in flavor.interface:
        function = getattr(obj, method, None)
        if not callable(function):
            raise ArtifactError(
                f"a {flavor.name} model must implement {method}; {type(obj).__module__}.{type(obj).__name__} does not"
            )
        try:
            inspect.signature(function).bind(*range(n_args))
        except TypeError:
            raise ArtifactError(
                f"a {flavor.name} model's {method} must take {n_args} positional argument(s) "
                f"({_INTERFACE_HINTS.get((flavor.name, method), method)}); "
                f"{type(obj).__name__}.{method} does not"
            ) from None
        except ValueError:  # no signature to read (a builtin): trust it
            continue


_INTERFACE_HINTS = {
    ("forecasting", "forecast"): "forecast(horizon, xs=None)",
    ("forecasting", "learn_one"): "learn_one(y, x=None)",
    ("recommendation", "predict_one"): "predict_one(user, item, x=None)",
    ("recommendation", "rank"): "rank(user, items, x=None)",
    ("recommendation", "learn_one"): "learn_one(user, item, y, x=None)",
    ("clustering", "predict_one"): "predict_one(x)",
    ("clustering", "learn_one"): "learn_one(x)",
}


def as_servable(obj: Any, flavor: Flavor) -> Servable:
    """Check ``obj`` against the flavor's interface and wrap it; raises ArtifactError saying what is missing."""
    _check_river_kind(obj, flavor)
    if flavor.interface:
        if type(obj).__name__ == "InferenceSession":
            raise ArtifactError(f"a {flavor.name} model must be an online (river-style) model, not an ONNX session")
        _check_interface(obj, flavor)
    if type(obj).__name__ == "InferenceSession":
        return Servable(obj, flavor, "run", can_learn=False, kind="onnx")
    online = next((m for m in flavor.predict_methods if callable(getattr(obj, m, None))), None)
    if online and callable(getattr(obj, "learn_one", None)):
        return Servable(obj, flavor, online, can_learn=True, kind="online")
    batch = next((m for m in flavor.batch_methods if callable(getattr(obj, m, None))), None)
    if batch:
        return Servable(obj, flavor, batch, can_learn=callable(getattr(obj, "partial_fit", None)), kind="batch")
    wanted = " or ".join(flavor.predict_methods)
    batch_hint = f" (or a predict-only {' / '.join(flavor.batch_methods)})" if flavor.batch_methods else ""
    raise ArtifactError(
        f"a {flavor.name} model must implement learn_one and {wanted}{batch_hint}; "
        f"{type(obj).__module__}.{type(obj).__name__} does not"
    )
