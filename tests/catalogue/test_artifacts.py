"""Artifact formats beyond river: scikit-learn (joblib, pickle) and ONNX validate and serve predict-only."""

import io
import pickle

import joblib
import numpy as np
import pytest
from skl2onnx import to_onnx
from sklearn.linear_model import LinearRegression, LogisticRegression

import serving
from catalogue import artifacts, services
from catalogue.errors import Conflict
from catalogue.flavors import get_flavor
from catalogue.models import ModelVersion
from tests import factories

pytestmark = pytest.mark.django_db

X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 3.0]], dtype=np.float32)


def joblib_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, compress=3)
    return buffer.getvalue()


def validated_live(flavor: str, data: bytes, fmt: str, example: dict) -> ModelVersion:
    model = factories.MLModelFactory(name="batch", flavor=flavor)
    version, _ = services.model_version_register(model=model, data=data, fmt=fmt, input_example=example, validate=False)
    version = services.model_version_validate(version_id=version.pk)
    if version.status == ModelVersion.Status.READY:
        services.deployment_promote(version=version)
    return version


def test_an_onnx_regressor_validates_and_predicts_from_sorted_feature_names():
    fitted = LinearRegression().fit(X, [1.0, 2.0, 5.0, 9.0])
    version = validated_live("regression", to_onnx(fitted, X[:1]).SerializeToString(), "onnx", {"a": 2.0, "b": 1.0})
    assert version.status == "ready", version.validation_report["summary"]
    interface = next(c for c in version.validation_report["checks"] if c["name"] == "interface")
    assert "predict-only" in interface["detail"]
    answer = serving.predict(model="batch", features={"b": 1.0, "a": 2.0}).prediction
    assert answer == pytest.approx(float(fitted.predict([[2.0, 1.0]])[0]), rel=1e-5)
    with pytest.raises(Conflict, match="predict-only"):
        serving.learn(model="batch", features={"a": 2.0, "b": 1.0}, ground_truth=5.0)


def test_an_onnx_classifier_answers_class_probabilities():
    fitted = LogisticRegression().fit(X, [0, 1, 1, 0])
    onnx = to_onnx(fitted, X[:1], options={"zipmap": True}).SerializeToString()
    version = validated_live("binary", onnx, "onnx", {"a": 0.0, "b": 1.0})
    assert version.status == "ready", version.validation_report["summary"]
    proba = serving.predict(model="batch", features={"a": 0.0, "b": 1.0}).prediction
    assert set(proba) == {0, 1}
    assert sum(proba.values()) == pytest.approx(1.0)


def test_a_joblib_scikit_learn_classifier_serves_predict_proba():
    fitted = LogisticRegression().fit(X, [0, 1, 1, 0])
    data = joblib_bytes(fitted)
    assert artifacts.guess_format(data) == "joblib"
    version = validated_live("binary", data, "joblib", {"x0": 1.0, "x1": 0.0})
    assert version.status == "ready", version.validation_report["summary"]
    proba = serving.predict(model="batch", features={"x0": 1.0, "x1": 0.0}).prediction
    expected = fitted.predict_proba([[1.0, 0.0]])[0]
    assert proba == pytest.approx({0: expected[0], 1: expected[1]})


def test_a_pickled_estimator_with_partial_fit_learns():
    from sklearn.linear_model import SGDRegressor

    fitted = SGDRegressor(random_state=0).fit(X.astype(np.float64), [1.0, 2.0, 5.0, 9.0])
    version = validated_live("regression", pickle.dumps(fitted), "pickle", {"x0": 1.0, "x1": 2.0})
    assert version.status == "ready", version.validation_report["summary"]
    before = serving.predict(model="batch", features={"x0": 1.0, "x1": 2.0}).prediction
    serving.learn(model="batch", features={"x0": 1.0, "x1": 2.0}, ground_truth=100.0)
    assert serving.predict(model="batch", features={"x0": 1.0, "x1": 2.0}).prediction > before


def test_garbage_declared_as_onnx_fails_validation_with_a_reason():
    version = validated_live("regression", b"\x08not an onnx model", "onnx", {"a": 1.0})
    assert version.status == "failed"
    assert "could not load the bytes as onnx" in version.validation_report["summary"]


def test_a_batch_model_missing_a_feature_names_it():
    servable = artifacts.as_servable(LinearRegression().fit([[0, 1], [1, 0]], [0, 1]), get_flavor("regression"))
    servable.obj.feature_names_in_ = np.array(["distance", "hour"])
    with pytest.raises(artifacts.ArtifactError, match="missing features: hour"):
        servable.predict({"distance": 1.0})
