"""WebSocket routes of the API (streaming inference)."""

from django.urls import path

from api.consumers import InferenceConsumer

websocket_urlpatterns: list = [
    path("ws/models/<str:name>/infer/", InferenceConsumer.as_asgi()),
]
