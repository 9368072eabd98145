"""WebSocket routes: every transport lives in api, so its ``websocket_urlpatterns`` are all of them."""

from api.routing import websocket_urlpatterns

__all__ = ["websocket_urlpatterns"]
