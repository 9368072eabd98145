"""Commands to production instances over the channel layer: the ``serving.instances.Transport`` the api app plugs in.

A layer instance of its own, driven by an event loop of its own on a daemon thread: the instance's thread and any
sender (the deploy task, a request) hand it coroutines, so the layer is only ever used from one loop (channels_redis
refuses receives from two loops on one layer; the in-memory layer's queues belong to one loop). With the in-memory
layer (the embedded default) commands reach this process only; with Redis they reach every process.
"""

import asyncio
import threading

from channels.layers import channel_layers

#: Longer than any receive's own timeout: the loop thread answers, or the layer is stuck.
_MARGIN = 10.0


class ChannelLayerTransport:
    def __init__(self, alias: str = "default") -> None:
        self._alias = alias
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._layer = None

    def _run(self, coroutine_of, timeout: float):
        """Run ``coroutine_of(layer)`` on the transport's loop, started on first use, and wait for its result."""
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._layer = channel_layers.make_backend(self._alias)  # not get_channel_layer(): a private one
                threading.Thread(target=self._loop.run_forever, name="rhythmic-transport", daemon=True).start()
        return asyncio.run_coroutine_threadsafe(coroutine_of(self._layer), self._loop).result(timeout)

    def new_channel(self) -> str:
        return self._run(lambda layer: layer.new_channel(), _MARGIN)

    def send(self, channel: str, message: dict) -> None:
        self._run(lambda layer: layer.send(channel, message), _MARGIN)

    def receive(self, channel: str, timeout: float) -> dict | None:
        async def receive(layer):
            try:
                return await asyncio.wait_for(layer.receive(channel), timeout)
            except TimeoutError:
                return None

        return self._run(receive, timeout + _MARGIN)
