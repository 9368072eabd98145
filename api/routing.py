"""WebSocket routes of the API (streaming inference)."""

websocket_urlpatterns: list = []
