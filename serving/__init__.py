"""The serving core: per-process replicas of live versions, predict, learn, the learn log, checkpoints,
online metrics. Every interface calls the functions exported here."""

from catalogue.runtime.serving import (
    learn,
    learn_many,
    live_state,
    metrics,
    predict,
    predict_many,
    route_stats,
    snapshot,
)

__all__ = ["learn", "learn_many", "live_state", "metrics", "predict", "predict_many", "route_stats", "snapshot"]
