"""Online metrics of a version, folded from (ground truth, prediction made at predict time), and a drift
detector on the same error stream. Both are part of the replicated state: every replica folds the same
log in the same order, so all processes report the same figures and see a drift at the same sequence.

Folding follows river's progressive validation exactly: an empty prediction is skipped; metrics that need
labels get the most probable class of a probability dict, the others get the dict (or the score).
"""

from typing import Any

from django.conf import settings
from river import drift as river_drift
from river import metrics as river_metrics

from catalogue.flavors import Flavor


class OnlineMetrics:
    def __init__(self, flavor: Flavor):
        self.metrics = [getattr(river_metrics, name)() for name in flavor.metrics]
        self.n_folded = 0
        self.regression = flavor.name == "regression"
        # An anomaly score has no error against a label: drift is watched for the supervised flavors.
        self.detector = None if flavor.name == "anomaly" else getattr(river_drift, settings.RHYTHMIC_DRIFT_DETECTOR)()
        self.n_drifts = 0

    def fold(self, ground_truth: Any, prediction: Any) -> bool:
        """Fold one labelled prediction; True when the error stream just drifted."""
        if ground_truth is None or prediction is None or prediction == {}:
            return False
        label = max(prediction, key=prediction.get) if isinstance(prediction, dict) else prediction
        for metric in self.metrics:
            needs_label = getattr(metric, "requires_labels", False)
            metric.update(ground_truth, label if needs_label else prediction)
        self.n_folded += 1
        if self.detector is None:
            return False
        # Absolute error for regression, 0/1 loss for classification.
        self.detector.update(abs(ground_truth - label) if self.regression else float(label != ground_truth))
        if self.detector.drift_detected:
            self.n_drifts += 1
            return True
        return False

    def values(self) -> dict[str, float]:
        return {type(metric).__name__: _finite(metric.get()) for metric in self.metrics}


def _finite(value: Any) -> float | None:
    """JSON has no NaN or infinity: report them as null."""
    value = float(value)
    return value if value == value and value not in (float("inf"), float("-inf")) else None
