"""Production instances: every serving process registers an ``Instance`` row, beats, and takes commands.

The interface other layers use (the deploy task in ``serving.deploy``, the REST API, monitoring):

- ``live(location)``: the instances beating now that serve ``location`` (a process bound to no location serves
  every location).
- ``status_of(instance)``: "live", "lost" (missed RHYTHMIC_INSTANCE_LOST_BEATS beats) or "stopped".
- ``register_command(name, handler)``: the app that owns a command (``serving.deploy``: "preload") registers
  ``handler(message: dict) -> None``; it runs on the instance's own thread when a command of that name arrives.
- ``send_command(instance, name, **payload)``: send a command to one instance over the ``Transport`` the api
  layer plugs in with ``set_transport`` (the channel layer).
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from serving.models import Instance

LIVE, LOST, STOPPED = "live", "lost", "stopped"

#: command name -> handler(message), run on the instance's thread
_commands: dict[str, Callable[[dict], None]] = {}


def register_command(name: str, handler: Callable[[dict], None]) -> None:
    _commands[name] = handler


def command_handler(name: str) -> Callable[[dict], None] | None:
    return _commands.get(name)


def lost_after() -> timedelta:
    """How long after its last beat an instance counts as lost."""
    return timedelta(seconds=settings.RHYTHMIC_HEARTBEAT_SECONDS * settings.RHYTHMIC_INSTANCE_LOST_BEATS)


def live(location: str | None = None) -> QuerySet[Instance]:
    """Instances beating now (not stopped, beat within ``lost_after()``), serving ``location`` if given."""
    found = Instance.objects.filter(stopped_at__isnull=True, last_beat__gte=timezone.now() - lost_after())
    if location is not None:
        found = found.filter(Q(location=location) | Q(location=""))
    return found


def status_of(instance: Instance) -> str:
    if instance.stopped_at is not None:
        return STOPPED
    return LIVE if instance.last_beat >= timezone.now() - lost_after() else LOST


class Transport(Protocol):
    """How commands travel between processes: the channel layer, plugged in by the api layer (serving imports
    no transport; see import-linter's contracts)."""

    def new_channel(self) -> str: ...

    def send(self, channel: str, message: dict) -> None: ...

    def receive(self, channel: str, timeout: float) -> dict | None: ...


_transport: Transport | None = None


def set_transport(transport: Transport | None) -> None:
    global _transport
    _transport = transport


def send_command(instance: Instance, name: str, **payload) -> bool:
    """Send command ``name`` to ``instance``; False when it takes no commands (no channel, no transport) or the
    transport failed (the instance then picks the work up at its next beat, from the database)."""
    if _transport is None or not instance.channel:
        return False
    try:
        _transport.send(instance.channel, {"type": "instance.command", "command": name, **payload})
    except Exception:  # a layer that is down
        return False
    return True
