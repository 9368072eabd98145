"""WebSocket routes of the API: live events and metrics, streaming inference."""

from django.urls import path

from api import live_consumers
from api.consumers import InferenceConsumer

websocket_urlpatterns: list = [
    path("ws/events/", live_consumers.EventsConsumer.as_asgi()),
    path("ws/models/<str:name>/metrics/", live_consumers.MetricsConsumer.as_asgi()),
    path("ws/models/<str:name>/infer/", InferenceConsumer.as_asgi()),
]
