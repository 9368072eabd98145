"""The online metrics of the flavors that do not fold (ground truth, prediction) pairs alone: forecasting (river's
per-step ``HorizonMetric``, exactly as ``river.evaluate.evaluate`` computes it) and clustering (cluster sizes).

Both are replicated state like ``OnlineMetrics``: checkpointed with the version, folded from the log in order.
"""

import collections
import copy
import logging
import math
from typing import Any

from django.conf import settings
from river import drift as river_drift
from river import metrics as river_metrics
from river import time_series

from catalogue import artifacts
from catalogue.flavors import Flavor
from serving.online_metrics import OnlineMetrics, _finite, _is_finite

logger = logging.getLogger(__name__)


def new_metrics(flavor: Flavor, *, obj: Any = None, options: dict | None = None) -> OnlineMetrics:
    """Fresh metrics for a version of ``flavor`` whose learning starts from the model ``obj`` (a forecaster's
    metrics replay a copy of it ``horizon`` steps behind: see ``ForecastMetrics``)."""
    if flavor.name == "forecasting":
        horizon = (options or {}).get("horizon", dict(flavor.options)["horizon"])
        return ForecastMetrics(flavor, model=obj, horizon=horizon)
    if flavor.name == "clustering":
        return ClusterMetrics(flavor)
    return OnlineMetrics(flavor)


class ForecastMetrics(OnlineMetrics):
    """``river.evaluate.evaluate(stream, model, metric, horizon=H)`` folded one learn at a time.

    evaluate, at step k of the stream (x_k, y_k), forecasts H values with xs = x_{k+1..k+H} from the model that
    learned steps 1..k-1 (none for k <= H), scores them against y_{k+1..k+H}, then learns (x_k, y_k). Those
    values are known once learn k+H arrives, so a copy of the version's starting model (``lagged``) learns H
    steps behind the live one: when learn n arrives it forecasts for step n-H, then learns it. Its forecasts
    are made at learn time from the log alone, so every replica agrees; the drift detector watches the error
    of the one-step forecast logged with each learn.
    """

    def __init__(self, flavor: Flavor, *, model: Any, horizon: int):
        self.metrics = [time_series.HorizonMetric(getattr(river_metrics, name)()) for name in flavor.metrics]
        self.flavor = flavor
        self.horizon = horizon
        self.lagged = copy.deepcopy(model)
        self.window: collections.deque = collections.deque(maxlen=horizon + 1)
        self.n_seen = 0
        self.n_folded = 0
        self.regression = True
        self.detector = getattr(river_drift, settings.RHYTHMIC_DRIFT_DETECTOR)()
        self.n_drifts = 0

    def fold(self, ground_truth: Any, prediction: Any, *, seq: int | None = None, features: Any = None) -> bool:
        if ground_truth is None:
            return False
        if self.lagged is not None:
            self._step(features if isinstance(features, dict) else {}, ground_truth, seq)
        return self._drift(ground_truth, prediction, seq)

    def _step(self, x: dict, y: Any, seq: int | None) -> None:
        self.window.append((x, y))
        self.n_seen += 1
        if len(self.window) <= self.horizon:
            return
        x_k, y_k = self.window[0]
        if self.n_seen > 2 * self.horizon:  # step k = n - H is past evaluate's H warm-up steps
            ahead = list(self.window)[1:]
            self._score([x for x, _ in ahead], [y for _, y in ahead], seq)
        try:
            artifacts.learn_one(self.lagged, self.flavor, x_k, y_k)
        except Exception:  # the live replica raised on this entry too (it learned it H steps ago)
            logger.warning("learn #%s: the metrics' lagged forecaster failed to learn", seq, exc_info=True)

    def _score(self, xs: list[dict], ys: list, seq: int | None) -> None:
        try:
            forecast = list(self.lagged.forecast(self.horizon, xs=xs))
        except Exception:
            self.n_skipped += 1
            logger.warning("learn #%s: the metrics' lagged forecaster failed to forecast", seq, exc_info=True)
            return
        if len(forecast) != len(ys) or not all(_is_finite(v) for v in (*forecast, *ys)):
            self.n_skipped += 1
            logger.warning("learn #%s: a forecast for the metrics is not %s finite numbers", seq, len(ys))
            return
        for metric in self.metrics:
            metric.update(ys, forecast)
        self.n_folded += 1

    def _drift(self, ground_truth: Any, prediction: Any, seq: int | None) -> bool:
        if not (_is_finite(ground_truth) and _is_finite(prediction)):
            return False
        error = abs(float(ground_truth) - float(prediction))
        if not math.isfinite(error):
            return False
        try:
            self.detector.update(error)
        except Exception:
            self.n_detector_errors += 1
            logger.warning("learn #%s: the drift detector failed on an error of %r", seq, error, exc_info=True)
            return False
        if self.detector.drift_detected:
            self.n_drifts += 1
            return True
        return False

    def values(self) -> dict[str, list[float | None]]:
        """{metric: [step 1, ..., step H]}: empty lists until the first forecast is scored."""
        return {type(metric.metric).__name__: [_finite(v) for v in metric.get()] for metric in self.metrics}


class ClusterMetrics(OnlineMetrics):
    """How many learned points each cluster was given (the cluster predicted for a point before it was learned):
    ``{"n_clusters": k, "cluster_<c>": n, ...}``, so the monitoring charts follow the sizes over time."""

    def __init__(self, flavor: Flavor):
        self.metrics = []
        self.sizes: dict[str, int] = {}
        self.n_folded = 0
        self.regression = False
        self.detector = None
        self.n_drifts = 0

    def fold(self, ground_truth: Any, prediction: Any, *, seq: int | None = None, features: Any = None) -> bool:
        if prediction is None or isinstance(prediction, dict | list):
            return False
        key = str(prediction)
        self.sizes[key] = self.sizes.get(key, 0) + 1
        self.n_folded += 1
        return False

    def values(self) -> dict[str, float]:
        ordered = sorted(self.sizes, key=_cluster_order)
        return {"n_clusters": float(len(self.sizes)), **{f"cluster_{c}": float(self.sizes[c]) for c in ordered}}


def _cluster_order(cluster: str) -> tuple:
    """Numbered clusters in numeric order (river's are 0, 1, ...), then any others by name."""
    numbered = cluster.lstrip("-").isdigit()
    return (not numbered, int(cluster) if numbered else 0, cluster)
