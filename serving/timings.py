"""Route timings of this process, recorded once per serving call: per route, count, mean and exponentially
weighted mean duration (nanoseconds, as chantilly reports them), p50/p95/p99 over recent answered calls and a
cumulative histogram (what Prometheus exports); per model, the recent calls with their time and outcome (the
alert windows read them). Stats, snapshots, alerts and /metrics all read this one record."""

import bisect
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from catalogue.errors import RhythmicError, UnknownModel
from serving import observers

WINDOW = 2048
EWM_ALPHA = 0.3
#: Recent serving calls kept per model, answered or refused, for rates and percentiles over a time window.
RECENT_CALLS = 10_000
#: Upper bounds (seconds) of the latency histogram's buckets; the last, implicit one is +Inf.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BUCKET_NS = tuple(round(bound * 1e9) for bound in LATENCY_BUCKETS)


class Call(NamedTuple):
    """One serving call: when it ended (``time.monotonic()``), how long it took, whether it was refused."""

    at: float
    duration_ns: int
    error: bool


def percentile(durations: list[int], q: float) -> int:
    """The ``q`` quantile of ``durations`` (nearest rank, 0 when empty): the one percentile every reader uses."""
    if not durations:
        return 0
    ordered = sorted(durations)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


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
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket (not cumulative); the last is +Inf
        self.total_ns = 0

    def record(self, duration_ns: int) -> None:
        self.buckets[bisect.bisect_left(_BUCKET_NS, duration_ns)] += 1
        self.total_ns += duration_ns
        self.n_calls += 1
        self.mean += (duration_ns - self.mean) / self.n_calls
        self.ewm = duration_ns if self.n_calls == 1 else EWM_ALPHA * duration_ns + (1 - EWM_ALPHA) * self.ewm
        self.recent.append(duration_ns)

    def percentile(self, q: float) -> int:
        return percentile(list(self.recent), q)

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


class Timings:
    """Route stats keyed by (model name, route) and recent calls per model; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], RouteStats] = {}
        self._calls: dict[str, deque[Call]] = {}

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
            self.record(model, route, duration, error=error)
            observers.notify("request", model=model, route=route, duration_ns=duration, error=error)

    def record(self, model: str, route: str, duration_ns: int, *, error: str | None = None) -> None:
        """Record one call: in the model's recent calls always, in the route stats if it was answered."""
        with self._lock:
            calls = self._calls.get(model)
            if calls is None:
                calls = self._calls[model] = deque(maxlen=RECENT_CALLS)
            calls.append(Call(time.monotonic(), duration_ns, error is not None))
            if error is None:
                self._routes.setdefault((model, route), RouteStats()).record(duration_ns)

    def recent(self, model: str, *, seconds: float) -> list[Call]:
        """The model's calls that ended within the last ``seconds``, oldest first."""
        since = time.monotonic() - seconds
        with self._lock:
            calls = list(self._calls.get(model, ()))
        return [call for call in calls if call.at >= since]

    def for_model(self, model: str) -> dict[str, dict]:
        with self._lock:
            return {route: s.as_dict() for (name, route), s in self._routes.items() if name == model}

    def histograms(self) -> list[tuple[str, str, list[int], float]]:
        """Per (model, route): the cumulative count of answered calls at or under each of LATENCY_BUCKETS and
        +Inf, and their total duration in seconds (a Prometheus histogram's buckets and sum)."""
        with self._lock:
            rows = [(model, route, list(s.buckets), s.total_ns) for (model, route), s in self._routes.items()]
        found = []
        for model, route, buckets, total_ns in rows:
            cumulative, running = [], 0
            for count in buckets:
                running += count
                cumulative.append(running)
            found.append((model, route, cumulative, total_ns / 1e9))
        return found

    def reset(self, model: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._routes if model is None or k[0] == model]:
                del self._routes[key]
            if model is None:
                self._calls.clear()
            else:
                self._calls.pop(model, None)


def empty_stats() -> dict:
    return RouteStats().as_dict()
