"""Monitoring's per-process worker: the serving core's observers only put jobs on its queue; one daemon thread
runs them (alert evaluation, snapshots, drift records, non-finite reports, webhooks), off the request thread
and never under a model lock. Where a broker exists, a job that reads no state of this process goes to a
Celery task instead. The worker and the throttles live on the ServingProcess (``current().part(...)``).
"""

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connections, transaction

from serving.process import ServingProcess, current, register_part

logger = logging.getLogger(__name__)

PART = "monitoring"
#: The worker keeps its database connection this long after its last job: jobs come in bursts (a stream of learns
#: queues a drift record every few hundred), and reconnecting for each took half of a drift record's time.
IDLE_SECONDS = 0.5


class Monitor:
    """One process's monitoring state: its job queue and worker thread, and the per-model throttles."""

    def __init__(self, process: ServingProcess) -> None:
        self.process = process
        self._queue: queue.Queue[tuple[int, Callable[..., Any], dict]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._generation = 0  # jobs queued before a reset are dropped, as a restarted process would
        self._last: dict[tuple[str, str], float] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._batches: dict[tuple, list] = {}  # submit_batched's items, per key, of jobs not started yet

    # --- throttles (alert evaluation and snapshots on learn) -------------------------------------------

    def due(self, kind: str, model: str, *, every: float) -> bool:
        """True at most once every ``every`` seconds per (kind, model): the caller enqueues its job then."""
        now = time.monotonic()
        with self._lock:
            if now - self._last.get((kind, model), float("-inf")) < every:
                return False
            self._last[(kind, model)] = now
            return True

    def count(self, kind: str, model: str, *, n: int, every: int) -> bool:
        """Add ``n`` to the (kind, model) count; True (and the count starts again) once it reaches ``every``."""
        with self._lock:
            total = self._counts.get((kind, model), 0) + n
            self._counts[(kind, model)] = 0 if total >= every else total
        return total >= every

    # --- the queue -------------------------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, **kwargs: Any) -> None:
        """Run ``fn(**kwargs)`` on the worker thread once the caller's transaction commits (at once outside one):
        a job never reads what the caller may still roll back."""
        with self._lock:
            generation = self._generation
        transaction.on_commit(lambda: self._put(generation, fn, kwargs))

    def submit_batched(self, key: tuple, fn: Callable[[list], Any], item: Any) -> None:
        """Run ``fn(items)`` on the worker thread once the caller commits, ``item`` among ``items``: what is
        submitted under ``key`` while that job waits in the queue joins it, in order, so one job handles them
        all (a learn-many's drift points are recorded in one transaction, and the rules evaluated once)."""
        with self._lock:
            generation = self._generation
        transaction.on_commit(lambda: self._put_batched(generation, key, fn, item))

    def _put_batched(self, generation: int, key: tuple, fn: Callable[[list], Any], item: Any) -> None:
        with self._lock:
            waiting = self._batches.get(key)
            if waiting is not None:
                waiting.append(item)
                return
            items = self._batches[key] = [item]

        def started() -> None:
            with self._lock:
                if self._batches.get(key) is items:
                    del self._batches[key]  # what is submitted from now on goes to a job of its own
            fn(items)

        self._put(generation, started, {})

    def _put(self, generation: int, fn: Callable[..., Any], kwargs: dict) -> None:
        self._start()
        self._queue.put((generation, fn, kwargs))

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="rhythmic-monitoring", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        connected = False
        while True:
            try:
                generation, fn, kwargs = self._queue.get(timeout=IDLE_SECONDS) if connected else self._queue.get()
            except queue.Empty:
                # Idle: give the connection back (to the pool; a persistent one would outlive a restart).
                connections.close_all()
                connected = False
                continue
            connected = True
            try:
                if generation == self._generation:
                    fn(**kwargs)
            except Exception:  # one failed job must not stop the worker
                logger.exception("monitoring job %s failed", getattr(fn, "__qualname__", fn))
            finally:
                self._queue.task_done()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued job (and any job those queued) has run; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def reset(self) -> None:
        """Start afresh: drop the queued jobs, wait for the running one, forget the throttles."""
        with self._lock:
            self._generation += 1
            self._last.clear()
            self._counts.clear()
            self._batches.clear()  # their jobs are dropped
        if not self.drain(timeout=30.0):
            logger.warning("a monitoring job was still running after 30 s at reset")
        if self._thread is not None and self._thread.is_alive():
            # As a restarted process: no connection of the worker's left open (a test's database can be dropped).
            with self._lock:
                generation = self._generation
            self._queue.put((generation, connections.close_all, {}))
            self.drain(timeout=30.0)


def register() -> None:
    """Give every ServingProcess a Monitor (called from MonitoringConfig.ready)."""
    register_part(PART, Monitor)


def monitor(process: ServingProcess | None = None) -> Monitor:
    """The monitoring state of ``process`` (default: this process)."""
    return (process or current()).part(PART)


def submit(fn: Callable[..., Any], /, *, task: Any = None, **kwargs: Any) -> None:
    """Queue ``fn(**kwargs)`` for this process's worker thread; with a broker and a Celery ``task`` (a job that
    reads only the database), send ``task`` with the same arguments instead, after the caller commits."""
    if task is not None and not task.app.conf.task_always_eager:
        task.delay_on_commit(**kwargs)
        return
    monitor().submit(fn, **kwargs)


def submit_batched(key: tuple, fn: Callable[[list], Any], item: dict, *, task: Any) -> None:
    """``Monitor.submit_batched`` on this process's worker; with a broker, ``task(**item)`` is sent instead (one
    task per item, after the caller commits)."""
    if not task.app.conf.task_always_eager:
        task.delay_on_commit(**item)
        return
    monitor().submit_batched(key, fn, item)


def drain(timeout: float = 10.0) -> bool:
    """Wait until this process's monitoring jobs have run (tests: instead of sleeping)."""
    return monitor().drain(timeout)
