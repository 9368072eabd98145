"""ASGI entry point (daphne): HTTP plus WebSockets, routed by protocol."""

import asyncio
import os

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rhythmic.settings")
# Under ASGI each request's sync code runs on a new thread, so per-thread persistent connections are never
# reused: a Postgres connection pool is the default here (WSGI workers and Celery keep one connection each).
os.environ.setdefault("DATABASE_POOL", "1")
django_asgi_app = get_asgi_application()

from api.broadcast import broadcaster  # noqa: E402 - needs the apps loaded
from api.guards import RefuseNulSockets  # noqa: E402
from api.limits import install_daphne_limits, limit_body  # noqa: E402
from api.ws_auth import WebSocketAuth  # noqa: E402
from rhythmic import daphne_close  # noqa: E402
from rhythmic.routing import websocket_urlpatterns  # noqa: E402
from serving import instances  # noqa: E402

# Body and WebSocket message limits, enforced by daphne itself before it buffers anything.
install_daphne_limits()
daphne_close.install()  # 4401/4403 reach clients with their reason under daphne too
# A production instance (RHYTHMIC_REGISTER_INSTANCES): its thread writes the row, so this may run in a loop.
instances.start(os.environ.get("RHYTHMIC_SERVER_KIND", "asgi"))  # rhythmic/onesite.py names its own kind

router = ProtocolTypeRouter(
    {
        "http": limit_body(django_asgi_app),
        "websocket": RefuseNulSockets(AllowedHostsOriginValidator(WebSocketAuth(URLRouter(websocket_urlpatterns)))),
    }
)


async def application(scope, receive, send):
    # Live events are sent on this loop: the one where this process's listeners wait.
    broadcaster.bind_loop(asyncio.get_running_loop())
    return await router(scope, receive, send)
