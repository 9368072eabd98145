"""Request statistics per route in this process: count, mean and exponentially weighted mean duration
(nanoseconds, as chantilly reports them) and p50/p95/p99 over a window of recent calls."""

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from catalogue.errors import RhythmicError, UnknownModel
from serving import observers

WINDOW = 2048
EWM_ALPHA = 0.3


def humanize_ns(ns: float) -> str:
    """3014978 -> '3ms14μs978ns', the format chantilly's /api/stats uses."""
    ns = round(ns)
    parts = []
    for unit, size in (
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("μs", 1_000),
    ):
        if ns >= size:
            parts.append(f"{ns // size}{unit}")
            ns %= size
    if ns or not parts:
        parts.append(f"{ns}ns")
    return "".join(parts)


class RouteStats:
    def __init__(self) -> None:
        self.n_calls = 0
        self.mean = 0.0
        self.ewm = 0.0
        self.recent: deque[int] = deque(maxlen=WINDOW)

    def record(self, duration_ns: int) -> None:
        self.n_calls += 1
        self.mean += (duration_ns - self.mean) / self.n_calls
        self.ewm = duration_ns if self.n_calls == 1 else EWM_ALPHA * duration_ns + (1 - EWM_ALPHA) * self.ewm
        self.recent.append(duration_ns)

    def percentile(self, q: float) -> int:
        if not self.recent:
            return 0
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def as_dict(self) -> dict:
        return {
            "n_calls": self.n_calls,
            "mean_duration": int(self.mean),
            "mean_duration_human": humanize_ns(self.mean),
            "ewm_duration": int(self.ewm),
            "ewm_duration_human": humanize_ns(self.ewm),
            "p50_duration": self.percentile(0.50),
            "p95_duration": self.percentile(0.95),
            "p99_duration": self.percentile(0.99),
        }


class StatsBook:
    """Stats keyed by (model name, route); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], RouteStats] = {}

    @contextmanager
    def timed(self, model: str, route: str) -> Iterator[None]:
        """Time a core call; observers of ``request`` hear of it with its error code, if it failed.

        Only calls that produced an answer count in the route stats (calls and latency): a refusal (409 no
        production, 400 bad input...) is no prediction, and its few microseconds would flatter the latency.
        Observers hear of every call and count refusals by code, not as latency (``error`` is not None).
        Calls to a model that does not exist are told as the one model "": any name a client sends would
        otherwise become stats, alert windows and Prometheus series."""
        started = time.perf_counter_ns()
        error = None
        try:
            yield
        except UnknownModel as exc:
            model, error = "", exc.code
            raise
        except RhythmicError as exc:
            error = exc.code
            raise
        except Exception:
            error = "server_error"
            raise
        finally:
            duration = time.perf_counter_ns() - started
            if error is None:
                self.record(model, route, duration)
            observers.notify("request", model=model, route=route, duration_ns=duration, error=error)

    def record(self, model: str, route: str, duration_ns: int) -> None:
        with self._lock:
            self._routes.setdefault((model, route), RouteStats()).record(duration_ns)

    def for_model(self, model: str) -> dict[str, dict]:
        with self._lock:
            return {route: s.as_dict() for (name, route), s in self._routes.items() if name == model}

    def reset(self, model: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._routes if model is None or k[0] == model]:
                del self._routes[key]


stats = StatsBook()


def empty_stats() -> dict:
    return RouteStats().as_dict()
