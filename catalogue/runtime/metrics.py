"""Online metrics of a version, folded from (ground truth, prediction made at predict time).

Folding follows river's progressive validation exactly: an empty prediction is skipped; metrics that need
labels get the most probable class of a probability dict, the others get the dict (or the score).
"""

from typing import Any

from river import metrics as river_metrics

from catalogue.flavors import Flavor


class OnlineMetrics:
    def __init__(self, flavor: Flavor):
        self.metrics = [getattr(river_metrics, name)() for name in flavor.metrics]
        self.n_folded = 0

    def fold(self, ground_truth: Any, prediction: Any) -> None:
        if ground_truth is None or prediction is None or prediction == {}:
            return
        label = max(prediction, key=prediction.get) if isinstance(prediction, dict) else prediction
        for metric in self.metrics:
            needs_label = getattr(metric, "requires_labels", False)
            metric.update(ground_truth, label if needs_label else prediction)
        self.n_folded += 1

    def values(self) -> dict[str, float]:
        return {type(metric).__name__: _finite(metric.get()) for metric in self.metrics}


def _finite(value: Any) -> float | None:
    """JSON has no NaN or infinity: report them as null."""
    value = float(value)
    return value if value == value and value not in (float("inf"), float("-inf")) else None
