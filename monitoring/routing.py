"""WebSocket routes of monitoring (live events and metrics)."""

from django.urls import path

from monitoring import consumers

websocket_urlpatterns: list = [
    path("ws/events/", consumers.EventsConsumer.as_asgi()),
    path("ws/models/<str:name>/metrics/", consumers.MetricsConsumer.as_asgi()),
]
