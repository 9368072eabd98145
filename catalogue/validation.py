"""Validation of an uploaded version: load it, check it against its flavor, its requirements, a smoke
prediction and replay determinism, and time it. The report says, check by check, what passed and why not.
"""

import json
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata as importlib_metadata
from typing import Any

from django.conf import settings
from packaging.requirements import InvalidRequirement, Requirement

from catalogue import artifacts
from catalogue.flavors import get_flavor, jsonable


class _Report:
    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []

    @contextmanager
    def check(self, name: str) -> Iterator[dict[str, Any]]:
        """Record one check; a raised exception is its failure reason, never a crash of the validation."""
        entry: dict[str, Any] = {"name": name, "status": "passed", "detail": ""}
        started = time.perf_counter()
        try:
            yield entry
        except Exception as exc:  # the artifact is user code: anything can come out of it
            entry["status"] = "failed"
            entry["detail"] = str(exc) if isinstance(exc, artifacts.ArtifactError) else f"{type(exc).__name__}: {exc}"
        finally:
            entry["seconds"] = round(time.perf_counter() - started, 6)
            self.checks.append(entry)

    def skip(self, name: str, detail: str) -> None:
        self.checks.append({"name": name, "status": "skipped", "detail": detail, "seconds": 0.0})

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["status"] == "failed"]


def check_requirements(text: str) -> list[str]:
    """Problems with a requirements.txt text against what is installed here; empty when all are met."""
    problems = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            problems.append(f"{line!r} is not a valid requirement ({exc})")
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = importlib_metadata.version(requirement.name)
        except importlib_metadata.PackageNotFoundError:
            problems.append(f"{requirement.name} is not installed on the server")
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{requirement.name}{requirement.specifier} is required but {installed} is installed")
    return problems


def _examples(input_example: dict | None, flavor_name: str, count: int) -> list[tuple[dict, Any]]:
    """A reproducible stream of (features, ground truth) shaped like the input example, or synthetic."""
    rng = random.Random(42)
    synthetic = {"forecasting": {}, "recommendation": {"user": "u0", "item": "i0"}}
    base = input_example or synthetic.get(flavor_name, {f"x{i}": 0.0 for i in range(5)})
    truths: dict[str, Callable[[], Any]] = {
        "regression": lambda: rng.uniform(-10, 10),
        "binary": lambda: rng.random() < 0.5,
        "multiclass": lambda: rng.choice(["a", "b", "c"]),
        "anomaly": lambda: None,
        "forecasting": lambda: rng.uniform(-10, 10),
        "recommendation": lambda: rng.uniform(1, 5),
    }
    stream = []
    for _ in range(count):
        features = {
            key: (value + rng.gauss(0, 1) if isinstance(value, int | float) and not isinstance(value, bool) else value)
            for key, value in base.items()
        }
        if flavor_name == "recommendation":  # a few users and items, so the factors meet again
            features["user"], features["item"] = f"u{rng.randrange(5)}", f"i{rng.randrange(5)}"
        stream.append((features, truths.get(flavor_name, lambda: None)()))
    return stream


class NotJSON(artifacts.ArtifactError):
    """The model answers with something a JSON response cannot carry."""


def _as_json(prediction: Any) -> str:
    try:
        return json.dumps(jsonable(prediction), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NotJSON(
            f"the prediction {prediction!r} cannot be sent as JSON ({exc}); return numbers, strings, booleans "
            "or a dict of them"
        ) from None


def _predictions(servable: artifacts.Servable, stream: list[tuple[dict, Any]]) -> list[str]:
    outputs = []
    for features, truth in stream:
        outputs.append(_as_json(servable.predict(features)))
        if servable.can_learn and (truth is not None or not servable.flavor.ground_truth_required):
            servable.learn(features, truth)
    return outputs


def run_checks(version) -> dict[str, Any]:
    """Validate a ModelVersion (with its artifact loaded); returns the report stored on the version."""
    report = _Report()
    flavor = get_flavor(version.model.flavor)
    data = bytes(version.artifact)
    obj = servable = None
    load_seconds = None

    with report.check("load") as entry:
        started = time.perf_counter()
        obj = artifacts.load_artifact(data, version.format)
        load_seconds = round(time.perf_counter() - started, 6)
        entry["detail"] = f"loaded a {type(obj).__module__}.{type(obj).__name__} from {len(data)} bytes"

    if obj is not None:
        with report.check("interface") as entry:
            servable = artifacts.as_servable(obj, flavor)
            entry["detail"] = f"{flavor.name}: predicts with {servable.predict_method}; " + (
                "learns online" if servable.can_learn else "predict-only (learn is refused)"
            )

    with report.check("requirements") as entry:
        problems = check_requirements(version.requirements or "")
        if problems:
            raise artifacts.ArtifactError("; ".join(problems))
        entry["detail"] = "all requirements are installed" if version.requirements else "no requirements declared"

    latency_us = None
    if servable is None:
        report.skip("smoke_prediction", "the model could not be loaded as a " + flavor.name + " model")
        report.skip("determinism", "the model could not be loaded")
    else:
        if version.input_example is None:
            report.skip("smoke_prediction", "no input example was given with the version")
        else:
            with report.check("smoke_prediction") as entry:
                fresh = artifacts.as_servable(artifacts.load_artifact(data, version.format), flavor)
                entry["detail"] = f"predicted {_as_json(fresh.predict(version.input_example))[:200]}"
        latency_us = _determinism(report, data, version, flavor)

    ok = not report.failed
    summary = "all checks passed" if ok else "; ".join(f"{check['name']}: {check['detail']}" for check in report.failed)
    return {
        "ok": ok,
        "summary": summary,
        "checks": report.checks,
        "size": len(data),
        "load_seconds": load_seconds,
        "predict_latency_us": latency_us,
    }


def _determinism(report: _Report, data: bytes, version, flavor) -> float | None:
    """Two copies fed the same stream must predict the same: replicas replaying the learn log depend on it."""
    stream = _examples(version.input_example, flavor.name, settings.RHYTHMIC_VALIDATION_EXAMPLES)
    copies = [artifacts.as_servable(artifacts.load_artifact(data, version.format), flavor) for _ in range(2)]
    try:
        first = _predictions(copies[0], stream)
    except Exception as exc:
        if version.input_example is None and not isinstance(exc, NotJSON):
            report.skip(
                "determinism",
                f"the model rejects synthetic features ({type(exc).__name__}: {exc}); "
                "give an input example to check it",
            )
            return None
        with report.check("determinism"):
            raise
        return None
    with report.check("determinism") as entry:
        second = _predictions(copies[1], stream)
        diverged = next((i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b), None)
        if diverged is not None:
            raise artifacts.ArtifactError(
                f"two copies fed the same {len(stream)} examples disagree at example {diverged} "
                f"({first[diverged]} vs {second[diverged]}): the model is not deterministic under replay, so "
                "server processes would drift apart. Seed its random parts (e.g. seed=42)."
            )
        entry["detail"] = f"two copies agreed on {len(stream)} predict/learn steps"
    timings = []
    for features, _ in stream[:20]:
        started = time.perf_counter()
        copies[1].predict(features)
        timings.append((time.perf_counter() - started) * 1e6)
    return round(statistics.median(timings), 1) if timings else None
