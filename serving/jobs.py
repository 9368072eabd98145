"""What the serving core's background jobs (backtests, training jobs) share: checking their whole-number
inputs, and running a job on a thread of this process in the embedded default (no broker), so ``wait`` can
join it while a worker's job is read from its row."""

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection

from catalogue.errors import InvalidInput

#: Jobs running on a thread of this process, by (kind, id).
_threads: dict[tuple[str, int], threading.Thread] = {}
_threads_lock = threading.Lock()


def whole(value: Any, field: str, *, minimum: int) -> int:
    """``value`` if it is a whole number (not a bool) of at least ``minimum``; else InvalidInput naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be a whole number, not {value!r}", field=field)
    if value < minimum:
        raise InvalidInput(f"{field} must be at least {minimum}, not {value}", field=field)
    return value


def is_user(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def run_on_thread(kind: str, job_id: int, run: Callable[[int], Any]) -> None:
    """Start ``run(job_id)`` on a daemon thread of this process (the request must not wait for it)."""

    def target() -> None:
        try:
            run(job_id)
        finally:
            connection.close()  # the thread's own connection
            with _threads_lock:
                _threads.pop((kind, job_id), None)

    thread = threading.Thread(target=target, name=f"{kind}-{job_id}", daemon=True)
    with _threads_lock:
        _threads[(kind, job_id)] = thread
    thread.start()


def join(kind: str, job_id: int, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for the job if it runs on a thread of this process."""
    with _threads_lock:
        thread = _threads.get((kind, job_id))
    if thread is not None:
        thread.join(timeout)
