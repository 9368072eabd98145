"""The serving core: per-process replicas of live versions, predict, learn, the learn log, checkpoints,
online metrics, route timings. Every interface calls the functions exported here.

They are imported on first use (PEP 562): Django imports this package before its models are ready.
"""

from typing import TYPE_CHECKING, Any

__all__ = [
    "Handoff",
    "learn",
    "learn_many",
    "live_state",
    "metrics",
    "predict",
    "predict_many",
    "rank",
    "route_stats",
    "snapshot",
]

if TYPE_CHECKING:
    from serving.inference import (
        Handoff,
        learn,
        learn_many,
        live_state,
        metrics,
        predict,
        predict_many,
        rank,
        route_stats,
        snapshot,
    )


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'serving' has no attribute {name!r}")
    from serving import inference

    value = getattr(inference, name)
    globals()[name] = value
    return value
