"""WebSocket routes of monitoring (live events and metrics)."""

websocket_urlpatterns: list = []
