"""Hooks for what happens in the serving core: monitoring subscribes here, the core never imports it.

An observer runs in the request's thread right after the work is durable, some with the model's lock held,
so it only counts or enqueues (monitoring's worker does the database work) and must not raise; an exception
is logged and swallowed so serving never fails for it. Observers are called in the order they subscribed:
monitoring subscribes its own explicitly, in one place (``MonitoringConfig.ready``).
"""

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

#: predict(model, predicted: list of Predicted) after a predict or a predict-many, every answered item in order
#: learn(model, learned: list of Learned, metrics: {version number: {name: value}}, state_seq)
#: request(model, route, duration_ns, error: code or None) after every core call, failed or not
#: drift(model, model_id, version_id, version, seq, n_drifts), on every replica that folds it (also replays)
#: non_finite(model, model_id, version_id, version, seq, prediction: repr), the first time a replica of this
#: process predicts NaN or infinity, with the model's lock held
#: backtest(model, backtest: serving.backtests.as_event) when a backtest starts, after each chunk, when it ends
#: training(model, job: serving.training.as_event) when a training job starts, after each chunk, when it ends
#: deploy_task(model, task: {"id", "status", "version"}) when a deploy starts pre-loading, succeeds or fails
_observers: dict[str, list[Callable[..., None]]] = {
    "predict": [],
    "learn": [],
    "request": [],
    "drift": [],
    "non_finite": [],
    "backtest": [],
    "training": [],
    "deploy_task": [],
}


def subscribe(kind: str, fn: Callable[..., None]) -> None:
    """Call ``fn`` on every event of ``kind`` (see above), after the observers subscribed before it."""
    if fn not in _observers[kind]:
        _observers[kind].append(fn)


def observe(kind: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorator: ``@observe("learn")`` subscribes a function to one kind of event (see above)."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        subscribe(kind, fn)
        return fn

    return register


def wanted(kind: str) -> bool:
    return bool(_observers[kind])


def notify(kind: str, **payload: Any) -> None:
    for fn in _observers[kind]:
        try:
            fn(**payload)
        except Exception:
            logger.exception("observer %s of %s failed", fn.__qualname__, kind)
