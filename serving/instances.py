"""Production instances: every serving process registers an ``Instance`` row, beats, and takes commands.

The interface other layers use (the deploy task in ``serving.deploy``, the REST API, monitoring):

- ``live(location)``: the instances beating now that serve ``location`` (a process bound to no location serves
  every location).
- ``status_of(instance)``: "live", "lost" (missed RHYTHMIC_INSTANCE_LOST_BEATS beats) or "stopped".
- ``register_command(name, handler)``: the app that owns a command (``serving.deploy``: "preload") registers
  ``handler(message: dict) -> None``; it runs on the instance's own thread when a command of that name arrives.
- ``send_command(instance, name, **payload)``: send a command to one instance over the ``Transport`` the api
  layer plugs in with ``set_transport`` (the channel layer).
- ``register_beat_hook(hook)``: ``hook(instance)`` runs after each beat, on the instance's thread.

The runtime: ``start(kind)`` (the server entry points call it: rhythmic/wsgi.py, asgi.py, onesite.py) registers
this process and starts one daemon thread that waits up to RHYTHMIC_HEARTBEAT_SECONDS for a command on its
channel, runs it, and beats (one UPDATE: last beat, loaded models with their lag), now and then pruning the rows
of instances gone quiet; ``stop()`` at exit marks the row stopped. The built-in command "ping" makes it beat at
once with the ping's id in ``runtime["ping"]``.
"""

import atexit
import importlib.metadata
import logging
import os
import platform
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from catalogue.models import MLModel
from serving.models import Instance
from serving.process import current as current_process

LIVE, LOST, STOPPED = "live", "lost", "stopped"
STATUSES = (LIVE, LOST, STOPPED)

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


def instance_list(*, location: str | None = None, status: str | None = None) -> QuerySet[Instance]:
    """The registered instances (of ``location``: its own and those serving every location), by status if given."""
    found = Instance.objects.all()
    if location is not None:
        found = found.filter(Q(location=location) | Q(location=""))
    beating = Q(last_beat__gte=timezone.now() - lost_after())
    if status == LIVE:
        found = found.filter(beating, stopped_at__isnull=True)
    elif status == LOST:
        found = found.filter(~beating, stopped_at__isnull=True)
    elif status == STOPPED:
        found = found.filter(stopped_at__isnull=False)
    return found


def instance_get(*, key: str) -> Instance | None:
    return Instance.objects.filter(key=key).first()


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


# --- the runtime: this process's registration, its heartbeat thread and its commands ------------------------

logger = logging.getLogger(__name__)

#: hook(instance) -> None, run after each beat on the instance's thread (the deploy picks up, from the database,
#: work a command over the transport may have missed)
_beat_hooks: list[Callable[[Instance], None]] = []
#: Any instance prunes the rows of instances gone quiet, at most this often (seconds).
PRUNE_EVERY = 300.0
#: The command that makes an instance beat at once and report the ping's id: ``runtime["ping"]``.
PING = "ping"


def register_beat_hook(hook: Callable[[Instance], None]) -> None:
    """Run ``hook(instance)`` after each beat of this process's instance, on its thread (errors are logged)."""
    if hook not in _beat_hooks:
        _beat_hooks.append(hook)


def installed_packages() -> dict[str, str]:
    """Every installed distribution by its normalized name (PEP 503: "scikit-learn"), with its version."""
    found = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            found[re.sub(r"[-_.]+", "-", name).lower()] = distribution.version
    return dict(sorted(found.items()))


def loaded_models() -> dict[str, dict]:
    """Per model this process holds: its loaded version numbers, the log sequence applied, the lag behind the head."""
    loaded = current_process().loaded()
    heads = dict(MLModel.objects.filter(pk__in=[m.model_id for m in loaded.values()]).values_list("pk", "learn_seq"))
    return {
        name: {
            "versions": list(model.versions),
            "applied_seq": model.applied_seq,
            "lag": max(0, heads.get(model.model_id, model.applied_seq) - model.applied_seq),
        }
        for name, model in sorted(loaded.items())
    }


def prune() -> int:
    """Delete the rows of instances whose last beat is older than RHYTHMIC_INSTANCE_PRUNE_SECONDS."""
    before = timezone.now() - timedelta(seconds=settings.RHYTHMIC_INSTANCE_PRUNE_SECONDS)
    deleted, _ = Instance.objects.filter(last_beat__lt=before).delete()
    return deleted


class Runtime:
    """This process as a production instance: its row, and one daemon thread that waits for commands on its
    channel (or sleeps, without a transport), runs them, and beats."""

    def __init__(self, kind: str) -> None:
        self.pid = os.getpid()
        host = socket.gethostname()
        now = timezone.now()
        self.instance = Instance(
            key=f"{host}:{self.pid}:{secrets.token_hex(4)}",
            host=host,
            pid=self.pid,
            kind=kind,
            location=settings.RHYTHMIC_LOCATION,
            started_at=now,
            last_beat=now,
            runtime={"python": platform.python_version(), "packages": installed_packages()},
        )
        self._registered = False
        self._runtime_changed = False
        self._last_prune = float("-inf")
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rhythmic-instance", daemon=True)

    # --- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        if _transport is not None:
            try:
                self.instance.channel = _transport.new_channel()
            except Exception:
                logger.exception("instance %s: no channel for commands; it only beats", self.instance.key)
        while not self._stopping.is_set():
            self._beat()
            message = self._wait()
            if message is not None:
                self._handle(message)

    def _wait(self) -> dict | None:
        """A command from the channel, or None after RHYTHMIC_HEARTBEAT_SECONDS (or when stopping)."""
        timeout = settings.RHYTHMIC_HEARTBEAT_SECONDS
        if _transport is None or not self.instance.channel:
            self._stopping.wait(timeout)
            return None
        started = time.monotonic()
        try:
            return _transport.receive(self.instance.channel, timeout)
        except Exception:  # a layer that is down: beat on, and try again next time
            logger.exception("instance %s: receiving commands failed", self.instance.key)
            self._stopping.wait(max(0.0, timeout - (time.monotonic() - started)))
            return None

    def _handle(self, message: dict) -> None:
        name = message.get("command")
        handler = command_handler(name) if isinstance(name, str) else None
        if handler is None:
            logger.warning("instance %s: unknown command %r", self.instance.key, name)
            return
        try:
            handler(message)
        except Exception:
            logger.exception("instance %s: command %r failed", self.instance.key, name)
        finally:
            connection.close()  # a handler may have used the database: leave no connection open on this thread

    def _beat(self) -> None:
        """One UPDATE of the row (register it if it is not there); a database error is logged and the next beat
        tries again. Then the beat hooks, and now and then a prune."""
        try:
            self._write_beat()
        except Exception:
            logger.exception("instance %s: heartbeat failed; retrying at the next beat", self.instance.key)
            connection.close()
            return
        for hook in list(_beat_hooks):
            try:
                hook(self.instance)
            except Exception:
                logger.exception("instance %s: beat hook %r failed", self.instance.key, hook)
        if time.monotonic() - self._last_prune >= min(PRUNE_EVERY, settings.RHYTHMIC_INSTANCE_PRUNE_SECONDS):
            self._last_prune = time.monotonic()
            try:
                prune()
            except Exception:
                logger.exception("instance %s: pruning lost instances failed", self.instance.key)
        connection.close()  # one connection per beat, not one held for the life of the process

    def _write_beat(self) -> None:
        instance = self.instance
        instance.models = loaded_models()
        instance.last_beat = timezone.now()
        fields = {"last_beat": instance.last_beat, "models": instance.models}
        if self._runtime_changed:
            fields["runtime"] = instance.runtime
        if not (self._registered and Instance.objects.filter(key=instance.key).update(**fields)):
            # First beat, or the row went away (pruned while this process was stalled): register (again).
            Instance.objects.update_or_create(
                key=instance.key,
                defaults={f.name: getattr(instance, f.name) for f in Instance._meta.concrete_fields if f.name != "id"},
            )
            self._registered = True
        self._runtime_changed = False

    # --- what commands and stop() use ------------------------------------------------------------

    def note(self, **runtime) -> None:
        """Report ``runtime`` entries (a ping's id) at the next beat."""
        self.instance.runtime = {**self.instance.runtime, **runtime}
        self._runtime_changed = True

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=0.5)  # it may be waiting for a command: no need to wait it out
        try:
            Instance.objects.filter(key=self.instance.key).update(stopped_at=timezone.now())
        except Exception:
            logger.exception("instance %s: could not record its stop", self.instance.key)
        finally:
            connection.close()


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def start(kind: str) -> Instance | None:
    """Register this process as a production instance of ``kind`` (an ``Instance.Kind``) and start its thread;
    None when RHYTHMIC_REGISTER_INSTANCES is off. Once per process: later calls return the same instance.

    The row is written by the thread (its first beat), so a server may call this at import, even inside an
    event loop; ``stop()`` runs at exit."""
    global _runtime
    if not settings.RHYTHMIC_REGISTER_INSTANCES:
        return None
    with _runtime_lock:
        if _runtime is not None and _runtime.pid == os.getpid():
            return _runtime.instance
        _runtime = Runtime(kind)  # a forked child registers as itself, not as its parent
        _runtime._thread.start()
        atexit.register(_runtime.stop)
        return _runtime.instance


def stop() -> None:
    """Record a clean stop of this process's instance (atexit does it; tests and servers may call it)."""
    global _runtime
    with _runtime_lock:
        runtime, _runtime = _runtime, None
    if runtime is not None and runtime.pid == os.getpid():
        atexit.unregister(runtime.stop)
        runtime.stop()


def this() -> Instance | None:
    """This process's instance, as it last reported itself (None: not registered)."""
    runtime = _runtime
    return runtime.instance if runtime is not None and runtime.pid == os.getpid() else None


def _ping(message: dict) -> None:
    """Beat now and report the ping's id, so a sender sees its command arrived (the loop beats after it)."""
    runtime = _runtime
    if runtime is not None:
        runtime.note(ping={"id": message.get("id"), "at": timezone.now().isoformat()})


register_command(PING, _ping)
