"""Live events out of monitoring: ``publish`` hands each event to the transports that subscribed.

Monitoring imports no transport: ``api`` subscribes its channel-layer push (``api.broadcast``) when it starts.
With none subscribed, events go nowhere. A sink never blocks and never raises (see ``api.broadcast``).
"""

from collections.abc import Iterable
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


def publish_many(events: Iterable[dict], *, model: str | None = None, sample: bool = True) -> None:
    """``publish`` of each event, in order, in one call to a sink that takes several (``publish_many``): a batch's
    events pay for the listener check and the lock once. A sink with no listener may not read ``events`` at all."""
    if len(_sinks) > 1:
        events = list(events)
    for sink in _sinks:
        many = getattr(sink, "publish_many", None)
        if many is not None:
            many(events, model=model, sample=sample)
        else:
            for event in events:
                sink.publish(event, model=model, sample=sample)


def publish_metrics(model: str, payload: dict) -> None:
    """A model's new metrics for ``metrics.<model>`` listeners (coalesced by the sink)."""
    for sink in _sinks:
        sink.publish_metrics(model, payload)
