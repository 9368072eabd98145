"""Online metrics of a version, folded from (ground truth, prediction made at predict time), and a drift
detector on the same error stream. Both are part of the replicated state: every replica folds the same
log in the same order, so all processes report the same figures and see a drift at the same sequence.

Folding follows river's progressive validation exactly: an empty prediction is skipped; metrics that need
labels get the most probable class of a probability dict, the others get the dict (or the score).
"""

import contextlib
import logging
import math
from typing import Any

from django.conf import settings
from river import drift as river_drift
from river import metrics as river_metrics

from catalogue.flavors import Flavor

logger = logging.getLogger(__name__)


class OnlineMetrics:
    #: Labelled predictions not folded because a number in them is not finite, or the metrics' result would
    #: not be (class attributes too, so the metrics of checkpoints written before they existed still load).
    n_skipped = 0
    #: Entries on which the drift detector raised.
    n_detector_errors = 0
    #: Entries the model raised on when learning (kept here because the metrics are checkpointed).
    n_learn_errors = 0

    def __init__(self, flavor: Flavor):
        self.metrics = [getattr(river_metrics, name)() for name in flavor.metrics]
        self.n_folded = 0
        # Ratings are numbers: their error is the absolute one, as for regression.
        self.regression = flavor.name in ("regression", "recommendation")
        # An anomaly score has no error against a label: drift is watched for the supervised flavors.
        self.detector = None if flavor.name == "anomaly" else getattr(river_drift, settings.RHYTHMIC_DRIFT_DETECTOR)()
        self.n_drifts = 0

    def fold(self, ground_truth: Any, prediction: Any, *, seq: int | None = None, features: Any = None) -> bool:
        """Fold one labelled prediction, all metrics or none; True when the error stream just drifted.

        Never raises. The fold is skipped as a whole (and counted in ``n_skipped``) when a number in it is not
        finite, when the regression error squared would not be (RMSE would raise OverflowError), when a metric
        raises, or when a metric's value turns non-finite: the metrics already updated are reverted. Every
        replica folds the same entries from the same state, so they all skip the same ones. ``seq`` (the log
        entry) is for the warning; ``features`` (the entry's) are for the flavors that score on them
        (serving.flavor_metrics)."""
        if type(prediction) is float and type(ground_truth) is float and self.regression:
            # A regression's usual pair, as _error takes it: the squared error is finite only if both are.
            label, error = prediction, abs(ground_truth - prediction)
            if not math.isfinite(error * error):
                error = None
        elif ground_truth is None or prediction is None or prediction == {}:
            return False
        else:
            try:
                label = max(prediction, key=prediction.get) if isinstance(prediction, dict) else prediction
                error = _error(ground_truth, prediction, label, regression=self.regression)
            except TypeError:  # probabilities that do not compare (an old log may hold anything)
                error = None
        if error is None:
            self.n_skipped += 1
            logger.warning(
                "learn #%s not folded into the metrics: not finite numbers (ground truth %r, prediction %r)",
                seq,
                ground_truth,
                prediction,
            )
            return False
        updated = 0
        try:
            for metric in self.metrics:
                if getattr(metric, "requires_labels", False):
                    # Metrics on labels are ratios of counts, finite by construction: only the others are read
                    # back (reading a macro metric costs a pass over the classes).
                    metric.update(ground_truth, label)
                    updated += 1
                    continue
                metric.update(ground_truth, prediction)
                updated += 1
                value = metric.get()
                if not (math.isfinite(value) if type(value) is float else _is_finite(value)):
                    raise FloatingPointError(f"{type(metric).__name__} would become non-finite")
        except Exception as exc:
            for metric in reversed(self.metrics[:updated]):
                y_pred = label if getattr(metric, "requires_labels", False) else prediction
                # A revert that fails too leaves that metric as it is: the same on every replica.
                with contextlib.suppress(Exception):
                    metric.revert(ground_truth, y_pred)
            self.n_skipped += 1
            logger.warning("learn #%s not folded into the metrics: %s: %s", seq, type(exc).__name__, exc)
            return False
        self.n_folded += 1
        if self.detector is None:
            return False
        try:
            self.detector.update(error)
        except Exception:  # the metrics stand; the detector's part is counted, the same on every replica
            self.n_detector_errors += 1
            logger.warning("learn #%s: the drift detector failed on an error of %r", seq, error, exc_info=True)
            return False
        if self.detector.drift_detected:
            self.n_drifts += 1
            return True
        return False

    def values(self) -> dict[str, float]:
        return {type(metric).__name__: _finite(metric.get()) for metric in self.metrics}


def _is_finite(value: Any) -> bool:
    """A real number that a float can hold and that is finite (numpy scalars too); False for anything else."""
    if type(value) is float:  # the usual case, first: this runs several times per learn
        return math.isfinite(value)
    if isinstance(value, bool | str) or value is None:
        return False
    try:
        return math.isfinite(value)
    except (TypeError, ValueError, OverflowError):  # not a number, or an int beyond float range
        return False


def _error(ground_truth: Any, prediction: Any, label: Any, *, regression: bool) -> float | None:
    """The error the drift detector watches (absolute for regression, 0/1 loss otherwise), or None when a
    number in the pair is not finite (an old log may hold one) or the squared error would overflow."""
    if regression:
        if not (_is_finite(ground_truth) and _is_finite(prediction)):
            return None
        error = abs(float(ground_truth) - float(prediction))
        return error if math.isfinite(error * error) else None
    if isinstance(prediction, dict) and not all(_is_finite(p) for p in prediction.values()):
        return None
    if isinstance(prediction, float) and not math.isfinite(prediction):
        return None  # an anomaly score, or a float label
    if isinstance(ground_truth, float) and not math.isfinite(ground_truth):
        return None
    return float(label != ground_truth)


def event_loss(flavor: Flavor, ground_truth: Any, prediction: Any) -> float | None:
    """One labelled prediction's loss on the flavor's headline metric: the absolute error for regression and
    recommendation ratings (MAE), the 0/1 error for classification (Accuracy); None when it has none (no label,
    not finite, an anomaly score: ROCAUC is not a mean of per-event losses). ``prediction`` is decoded (see
    codec)."""
    if flavor.name not in LOSS_FLAVORS or ground_truth is None or prediction is None or prediction == {}:
        return None
    try:
        label = max(prediction, key=prediction.get) if isinstance(prediction, dict) else prediction
        return _error(ground_truth, prediction, label, regression=flavor.name in MAE_FLAVORS)
    except TypeError:
        return None


#: The flavors whose headline metric is a mean of per-event losses (what promotion policies compare).
LOSS_FLAVORS = ("regression", "binary", "multiclass", "recommendation")
#: Those whose headline metric is MAE (the loss: the absolute error); the others' is Accuracy (the 0/1 error).
MAE_FLAVORS = ("regression", "recommendation")
#: Why the other flavors have no per-event loss.
NO_LOSS = {
    "anomaly": "its headline metric, ROCAUC, is not a mean of per-event losses",
    "forecasting": "its metrics score each horizon step by a copy of the model that learns behind it, not the "
    "predictions logged with each event",
    "clustering": "it learns without ground truth, so no prediction has a loss",
}


def _finite(value: Any) -> float | None:
    """JSON has no NaN or infinity: report them as null."""
    value = float(value)
    return value if value == value and value not in (float("inf"), float("-inf")) else None
