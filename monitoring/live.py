"""Live events out of monitoring: ``publish`` hands each event to the transports that subscribed.

Monitoring imports no transport: ``api`` subscribes its channel-layer push (``api.broadcast``) when it starts.
With none subscribed, events go nowhere. A sink never blocks and never raises (see ``api.broadcast``).
"""

from typing import Protocol


class Sink(Protocol):
    def publish(self, event: dict, *, model: str | None = None, sample: bool = True) -> None: ...

    def publish_metrics(self, model: str, payload: dict) -> None: ...


_sinks: list[Sink] = []


def subscribe(sink: Sink) -> None:
    """Send every event published from now on to ``sink`` too."""
    if sink not in _sinks:
        _sinks.append(sink)


def publish(event: dict, *, model: str | None = None, sample: bool = True) -> None:
    """An event for ``events`` and ``events.<model>`` listeners (sampled per model unless ``sample`` is False)."""
    for sink in _sinks:
        sink.publish(event, model=model, sample=sample)


def publish_metrics(model: str, payload: dict) -> None:
    """A model's new metrics for ``metrics.<model>`` listeners (coalesced by the sink)."""
    for sink in _sinks:
        sink.publish_metrics(model, payload)
