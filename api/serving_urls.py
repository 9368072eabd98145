"""Routes of the serving core: predict/learn under /api/v1/models/{name}/ and chantilly's /api/* routes."""

from django.urls import path

from api import compat, compat_sse, inference

app_name = "serving"

urlpatterns = [
    path("v1/models/<str:name>/predict", inference.predict, name="predict"),
    path("v1/models/<str:name>/learn", inference.learn, name="learn"),
    path("v1/models/<str:name>/predict-many", inference.predict_many, name="predict-many"),
    path("v1/models/<str:name>/learn-many", inference.learn_many, name="learn-many"),
    path("v1/models/<str:name>/rank", inference.rank, name="rank"),
    path("v1/models/<str:name>/metrics", inference.metrics, name="metrics"),
    path("v1/models/<str:name>/stats", inference.stats, name="stats"),
    path("v1/models/<str:name>/snapshot", inference.snapshot, name="snapshot"),
    # chantilly 0.3.0
    path("init", compat.init, name="compat-init"),
    path("model", compat.model, name="compat-model"),
    path("model/<str:name>", compat.model_named, name="compat-model-named"),
    path("models", compat.models, name="compat-models"),
    path("predict", compat.predict, name="compat-predict"),
    path("learn", compat.learn, name="compat-learn"),
    path("metrics", compat.metrics, name="compat-metrics"),
    path("stats", compat.stats, name="compat-stats"),
    # chantilly's server-sent events (async views: serve /api/stream/ from daphne)
    path("stream/events", compat_sse.stream_events, name="compat-stream-events"),
    path("stream/metrics", compat_sse.stream_metrics, name="compat-stream-metrics"),
]
