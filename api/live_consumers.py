"""WebSocket consumers of live monitoring: every event (or one model's) and one model's metrics, as JSON.

They only relay what api.broadcast sends to the channel layer. A slow or dead client costs the
others nothing: the layer's per-channel capacity drops messages for a full channel alone.
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

import serving
from api import parsers
from api.broadcast import ALL_EVENTS, events_group, metrics_group
from api.ws_auth import CLOSE_UNAUTHENTICATED, UNAUTHENTICATED_REASON
from catalogue import selectors
from catalogue.errors import Conflict, NotFound, RhythmicError, error_body

# Close codes in the application range (4000-4999), after the HTTP statuses they mirror.
CLOSE_NOT_FOUND = 4404

PING_HINT = 'this socket only streams events; the one message it accepts is {"type": "ping"}'


def _query_param(scope, name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else None


def error(code: str, message: str) -> dict:
    """An error message of these sockets: ``{"type": "error", "error": {...}}``, the one error body with its type."""
    return {"type": "error", **error_body(RhythmicError(message, code=code))}


@database_sync_to_async
def _model_exists(name: str) -> bool:
    return selectors.model_get(name=name) is not None


@database_sync_to_async
def _metrics_snapshot(name: str) -> dict:
    """The production version's metrics in the shape of a metrics push (``versions`` empty when none is live)."""
    try:
        current = serving.metrics(model=name)
    except Conflict:  # no production version yet: nothing to show, the pushes will come after a promote
        return {"type": "metrics", "model": name, "state_seq": None, "versions": {}}
    return {
        "type": "metrics",
        "model": name,
        "state_seq": current["state_seq"],
        "versions": {str(current["version"]): current["metrics"]},
    }


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Shared behaviour: refuse anonymous scopes, relay channel-layer events, answer pings."""

    async def refuse_anonymous(self) -> bool:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.accept()  # then close: see api.ws_auth.CLOSE_UNAUTHENTICATED
            await self.close(code=CLOSE_UNAUTHENTICATED, reason=UNAUTHENTICATED_REASON)
            return True
        return False

    async def not_found(self, name: str) -> None:
        await self.accept()
        await self.send_json(error("not_found", f"no model named {name!r}"))
        await self.close(code=CLOSE_NOT_FOUND)

    async def subscribe(self, groups: list[str]) -> None:
        # Kept in self.groups so the base class leaves them when the socket closes.
        self.groups = groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def unsubscribe(self) -> None:
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups = []

    async def rhythmic_event(self, message: dict) -> None:
        await self.send_json(message["event"])

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if text_data is None:
            await self.send_json(error("invalid", f"binary frames are not understood; {PING_HINT}"))
            return
        try:
            content = parsers.loads(text_data)
        except parsers.InvalidJSON as exc:
            await self.send_json(error("invalid", f"the message is not JSON the server accepts ({exc}); {PING_HINT}"))
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json(error("invalid", PING_HINT))


class EventsConsumer(LiveConsumer):
    """ws/events/ : every event; ws/events/?model=<name> : that model's only."""

    async def connect(self) -> None:
        if await self.refuse_anonymous():
            return
        name = _query_param(self.scope, "model")
        if name:
            if not await _model_exists(name):
                await self.not_found(name)
                return
            await self.subscribe([events_group(name)])
        else:
            await self.subscribe([ALL_EVENTS])
        await self.accept()


class MetricsConsumer(LiveConsumer):
    """ws/models/<name>/metrics/ : a snapshot of the production version's metrics, then every push."""

    async def connect(self) -> None:
        if await self.refuse_anonymous():
            return
        name = self.scope["url_route"]["kwargs"]["name"]
        # Join before reading the snapshot, so no push between the two is missed (state_seq orders them).
        await self.subscribe([metrics_group(name)])
        try:
            snapshot = await _metrics_snapshot(name)
        except NotFound:
            await self.unsubscribe()
            await self.not_found(name)
            return
        await self.accept()
        await self.send_json({**snapshot, "at": timezone.now().isoformat()})
