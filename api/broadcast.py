"""Live events to WebSocket and SSE listeners through the channel layer, without ever blocking serving.

``publish`` only appends to a bounded in-memory queue; a drain task sends it to the channel layer
(in-memory on the embedded default, Redis in production, so an event from any process reaches listeners
on every other). Above RHYTHMIC_EVENTS_PER_SECOND per model, events are sampled (the next one sent says
how many were skipped); metric pushes are coalesced to one per model per RHYTHMIC_METRICS_PUSH_SECONDS;
when the queue is full the event is dropped and counted. A slow listener is the channel layer's problem
(its per-channel capacity drops for it alone), never the request's.

Groups: ``events`` (everything), ``events.<model>``, ``metrics.<model>`` (hashed when a name is too long).
Monitoring publishes through ``monitoring.live``, to which ``api`` subscribes the broadcaster when it starts.
"""

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable

from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)

ALL_EVENTS = "events"
MESSAGE_TYPE = "rhythmic.event"


# Channels refuses group names of 100 characters or more; a model name may have 100 on its own.
MAX_GROUP_NAME = 99


def _group(kind: str, model: str) -> str:
    """``<kind>.<model>``, or ``<kind>.sha256.<digest>`` when that would be too long for Channels.

    Model names never contain a period, so a hashed name cannot be another model's plain one."""
    name = f"{kind}.{model}"
    if len(name) <= MAX_GROUP_NAME:
        return name
    return f"{kind}.sha256.{hashlib.sha256(model.encode()).hexdigest()}"


def events_group(model: str) -> str:
    return _group("events", model)


def metrics_group(model: str) -> str:
    return _group("metrics", model)


class Broadcaster:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[tuple[list[str], dict]] = deque()
        self._metrics: dict[str, dict] = {}
        self._windows: dict[str, list] = {}  # model -> [window start, sent in window, skipped]
        self._server_loop: asyncio.AbstractEventLoop | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._draining_on: asyncio.AbstractEventLoop | None = None  # the loop a drain task runs on
        self._flush_timer_on: asyncio.AbstractEventLoop | None = None  # where the next metrics push is timed
        self._last_metrics_flush = 0.0
        self.sent = 0
        self.dropped = 0
        self.sampled = 0

    def reset(self) -> None:
        """Start afresh (a test; as a new process would): nothing queued, no rate window, no bound loop (the
        ASGI application binds its loop again on its next call), counts at zero."""
        with self._lock:
            self._queue.clear()
            self._metrics.clear()
            self._windows.clear()
            self._server_loop = None
            self._last_metrics_flush = 0.0
            self.sent = self.dropped = self.sampled = 0

    # --- producers (any thread) ----------------------------------------------------------------

    def publish(self, event: dict, *, model: str | None = None, sample: bool = True) -> None:
        """Queue an event for ``events`` and ``events.<model>``. Never blocks, never raises."""
        groups = [ALL_EVENTS, events_group(model)] if model else [ALL_EVENTS]
        if self._unheard(groups):
            return
        with self._lock:
            if sample and model and not self._admit(model, event):
                return
            if len(self._queue) >= settings.RHYTHMIC_EVENTS_QUEUE:
                self.dropped += 1
                return
            event.setdefault("at", timezone.now().isoformat())
            # Wake the loop only when the queue was empty: a drain takes everything queued while it runs,
            # and waking the loop per event would cost a system call per predict.
            wake = not self._queue
            self._queue.append((groups, event))
        if wake:
            self._wake()

    def publish_many(self, events: Iterable[dict], *, model: str | None = None, sample: bool = True) -> None:
        """``publish`` of each event in order, checking for listeners and taking the lock once (a learn-many's
        events); they share one ``at``. ``events`` is not read when nobody listens. Never blocks, never raises."""
        groups = [ALL_EVENTS, events_group(model)] if model else [ALL_EVENTS]
        if self._unheard(groups):
            return
        at, now, cap = timezone.now().isoformat(), time.monotonic(), settings.RHYTHMIC_EVENTS_QUEUE
        with self._lock:
            wake = not self._queue
            for event in events:
                if sample and model and not self._admit(model, event, now):
                    continue
                if len(self._queue) >= cap:
                    self.dropped += 1
                    continue
                event.setdefault("at", at)
                self._queue.append((groups, event))
            wake = wake and bool(self._queue)
        if wake:
            self._wake()

    def publish_metrics(self, model: str, payload: dict) -> None:
        """Merge into the model's pending metrics push; sent at most once per RHYTHMIC_METRICS_PUSH_SECONDS.

        Versions are merged, so a version that learned earlier in the interval is still in the push."""
        if self._unheard([metrics_group(model)]):
            return
        with self._lock:
            pending = self._metrics.get(model)
            if pending is not None and "versions" in pending and "versions" in payload:
                payload["versions"] = {**pending["versions"], **payload["versions"]}
            payload.setdefault("at", timezone.now().isoformat())
            self._metrics[model] = payload
        if pending is None:
            self._wake()

    def _unheard(self, groups: list[str]) -> bool:
        """True when the channel layer is this process's in-memory one and no listener has joined ``groups``.

        Then an event reaches nobody: it is not queued, and the server's loop is not woken for it (under
        `make run`, a drain per event took the GIL from the request threads). A Redis layer may have listeners
        in other processes: every event is sent."""
        layer = get_channel_layer()
        members = getattr(layer, "groups", None)
        if not isinstance(members, dict) or "Redis" in type(layer).__name__:
            return False
        return not any(members.get(group) for group in groups)

    def _admit(self, model: str, event: dict, now: float | None = None) -> bool:
        """Rate-limit per model per second; the first event after a skip carries the count."""
        if now is None:
            now = time.monotonic()
        window = self._windows.setdefault(model, [now, 0, 0])
        if now - window[0] >= 1.0:
            window[0], window[1] = now, 0
        if window[1] >= settings.RHYTHMIC_EVENTS_PER_SECOND:
            window[2] += 1
            self.sampled += 1
            return False
        window[1] += 1
        if window[2]:
            event["skipped"] = window[2]
            window[2] = 0
        return True

    # --- delivery (on the server's event loop, or a private one) ---------------------------------

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called from the ASGI application: send on the server's loop, where in-memory listeners wait."""
        if self._server_loop is None:
            self._server_loop = loop

    def _target_loop(self) -> asyncio.AbstractEventLoop | None:
        if self._server_loop is not None and not self._server_loop.is_closed():
            return self._server_loop
        if "Redis" not in settings.CHANNEL_LAYERS["default"]["BACKEND"]:
            return None  # an in-memory layer outside an ASGI server has no listener to reach
        with self._lock:
            if self._own_loop is None:
                self._own_loop = asyncio.new_event_loop()
                threading.Thread(target=self._own_loop.run_forever, name="rhythmic-broadcast", daemon=True).start()
        return self._own_loop

    def _wake(self) -> None:
        loop = self._target_loop()
        if loop is None:
            with self._lock:
                self._queue.clear()
                self._metrics.clear()
            return
        with contextlib.suppress(RuntimeError):  # the loop closed under us (shutdown)
            loop.call_soon_threadsafe(self._start_drain, loop)

    def _start_drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """On ``loop``: start a drain unless one runs there already (it takes what was queued meanwhile).

        A drain ends when the queue is empty, so no task is left pending when the server stops."""
        if self._draining_on is loop:
            return
        self._draining_on = loop
        loop.create_task(self._drain(loop))

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        layer = get_channel_layer()
        try:
            while True:
                with self._lock:
                    batch = list(self._queue)
                    self._queue.clear()
                for groups, event in batch:
                    await self._send(layer, groups, event)
                await self._flush_metrics(layer, loop)
                with self._lock:
                    if not self._queue:
                        return
        finally:
            if self._draining_on is loop:
                self._draining_on = None

    async def _flush_metrics(self, layer, loop: asyncio.AbstractEventLoop) -> None:
        interval = settings.RHYTHMIC_METRICS_PUSH_SECONDS
        wait = self._last_metrics_flush + interval - time.monotonic()
        if wait > 0:
            if self._metrics and self._flush_timer_on is not loop:
                self._flush_timer_on = loop
                loop.call_later(wait, self._timer_drain, loop)
            return
        with self._lock:
            pushes = self._metrics
            self._metrics = {}
        if pushes:
            self._last_metrics_flush = time.monotonic()
        for model, payload in pushes.items():
            event = {"type": "metrics", "model": model, **payload}
            await self._send(layer, [metrics_group(model)], event)

    def _timer_drain(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._flush_timer_on is loop:
            self._flush_timer_on = None
        self._start_drain(loop)

    async def _send(self, layer, groups: list[str], event: dict) -> None:
        for group in groups:
            try:
                await layer.group_send(group, {"type": MESSAGE_TYPE, "event": event})
            except Exception:  # the broker is down or the message too big: drop it, keep serving
                self.dropped += 1
                logger.warning("could not send a %s event to %s", event.get("type"), group, exc_info=True)
                return
        self.sent += 1


broadcaster = Broadcaster()
publish = broadcaster.publish
publish_metrics = broadcaster.publish_metrics
