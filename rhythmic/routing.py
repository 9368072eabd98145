"""WebSocket routes: each app contributes its ``websocket_urlpatterns``."""

from api.routing import websocket_urlpatterns as api_patterns
from monitoring.routing import websocket_urlpatterns as monitoring_patterns

websocket_urlpatterns = [*monitoring_patterns, *api_patterns]
