"""The one object that holds a server process's serving state: replicas, route timings, the sweep timers, and
the parts of per-process state that layers above keep on it (``register_part``).

Everything per-process lives on ``ServingProcess``, so one ``reset()`` starts a process afresh, and monitoring
and the pages read it through its interface (``loaded``, ``lag``, ``route_stats``, ``recent_calls``), never
through its internals. ``current()`` is this process's; ``switch()`` lets tests and benches act as another.
"""

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from serving.replicas import Replicas
from serving.timings import Call, Timings


class Part(Protocol):
    """Per-process state that a layer above serving keeps on the ServingProcess (monitoring's worker and
    throttles, the live-event broadcaster, the token cache): ``reset()`` starts it afresh."""

    def reset(self) -> None: ...


#: name -> factory of a part, registered once by the app that owns it (in its AppConfig.ready).
_part_factories: dict[str, Callable[["ServingProcess"], Part]] = {}


def register_part(name: str, factory: Callable[["ServingProcess"], Part]) -> None:
    """Let every ServingProcess hold a ``name`` part, made by ``factory(process)`` on first use and reset
    with it (``reset()`` makes and resets every registered part, so a test fixture resets them all)."""
    _part_factories[name] = factory


@dataclass(frozen=True)
class LoadedModel:
    """A model as this process holds it: the log sequence it has applied and its loaded versions' numbers."""

    name: str
    model_id: int
    applied_seq: int
    versions: tuple[int, ...]


class ServingProcess:
    """This process's replicas of live versions, its route timings, and when it last swept or pruned."""

    def __init__(self) -> None:
        self.replicas = Replicas()
        self.timings = Timings()
        self._lock = threading.Lock()
        self._last_sweep = float("-inf")
        self._stored_since_trim: dict[int, int] = defaultdict(int)
        self._last_prune = float("-inf")
        self._pruning = threading.Lock()
        self._parts: dict[str, Part] = {}

    def reset(self) -> None:
        """Forget everything, as a freshly started process: replicas, timings, sweep timers and counters, and
        the parts other layers keep here (monitoring's queue and throttles, the broadcaster, the token cache)."""
        # The parts first: monitoring's reset waits for its running job, which may load replicas.
        for name in list(_part_factories):
            self.part(name).reset()
        self.replicas.forget()
        self.timings.reset()
        with self._lock:
            self._last_sweep = float("-inf")
            self._stored_since_trim.clear()
            self._last_prune = float("-inf")

    def part(self, name: str) -> Any:
        """The ``name`` part of this process (see ``register_part``), made on first use."""
        found = self._parts.get(name)
        if found is None:
            with self._lock:
                found = self._parts.get(name)
                if found is None:
                    found = self._parts[name] = _part_factories[name](self)
        return found

    # --- what monitoring and the pages read ---------------------------------------------------------

    def loaded(self) -> dict[str, LoadedModel]:
        """The models this process holds, by name, with their applied sequence and loaded version numbers."""
        found = {}
        for name, entry in self.replicas.loaded().items():
            with entry.lock:
                numbers = tuple(sorted(replica.number for replica in entry.replicas.values()))
                found[name] = LoadedModel(name, entry.model_id, entry.applied_seq, numbers)
        return found

    def loaded_bytes(self) -> int:
        """The measured size of the replicas this process holds (measured only while RHYTHMIC_MAX_LOADED_MB is
        set; 0 otherwise)."""
        return self.replicas.loaded_bytes()

    def lag(self, *, model: str, head: int) -> int | None:
        """Learn-log entries up to ``head`` this process has not applied to ``model`` (None: not loaded here)."""
        entry = self.replicas.loaded().get(model)
        return None if entry is None else max(0, head - entry.applied_seq)

    def route_stats(self, *, model: str) -> dict[str, dict]:
        """Per route: count, mean, EWM and p50/p95/p99 of this process's answered calls (nanoseconds)."""
        return self.timings.for_model(model)

    def recent_calls(self, *, model: str, seconds: float) -> list[Call]:
        """This process's calls to ``model`` (answered or refused) that ended within the last ``seconds``."""
        return self.timings.recent(model, seconds=seconds)

    def forget(self, model: str | None = None) -> None:
        """Drop the replicas (of ``model``; of all): the next call loads them again from the database."""
        self.replicas.forget(model)

    def forget_timings(self, *, model: str) -> None:
        """Drop the route timings of ``model`` (a name that now means another model, or none)."""
        self.timings.reset(model)

    # --- when to sweep pending predictions and prune the learn log (no Celery beat in the embedded default)

    def pending_sweep_due(self) -> bool:
        """True at most once every RHYTHMIC_PENDING_SWEEP_SECONDS: the caller expires old pending predictions."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_sweep < settings.RHYTHMIC_PENDING_SWEEP_SECONDS:
                return False
            self._last_sweep = now
            return True

    def pending_trim_due(self, *, model_id: int, stored: int, cap: int) -> bool:
        """Count ``stored`` ids stored for the model; True once a tenth of ``cap`` was stored since the last trim."""
        with self._lock:
            self._stored_since_trim[model_id] += stored
            if self._stored_since_trim[model_id] < max(1, cap // 10):
                return False
            self._stored_since_trim[model_id] = 0
            return True

    def pruning(self) -> bool:
        """Take the prune turn: True at most once every RHYTHMIC_LOG_PRUNE_SECONDS and not while another thread
        of this process prunes; the caller prunes, then calls ``pruned()``."""
        if time.monotonic() - self._last_prune < settings.RHYTHMIC_LOG_PRUNE_SECONDS:
            return False
        if not self._pruning.acquire(blocking=False):
            return False
        self._last_prune = time.monotonic()
        return True

    def pruned(self) -> None:
        self._pruning.release()


_current = ServingProcess()


def current() -> ServingProcess:
    """This process's serving state."""
    return _current


def switch(to: ServingProcess) -> ServingProcess:
    """Make ``to`` the current serving state and return the previous one: tests and benches act as several
    processes in one this way."""
    global _current
    previous, _current = _current, to
    return previous


@contextmanager
def acting_as(other: ServingProcess) -> Iterator[ServingProcess]:
    """Within the block, serve as ``other`` (tests and benches act as several processes in one)."""
    previous = switch(other)
    try:
        yield other
    finally:
        switch(previous)
