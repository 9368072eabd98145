"""Shared helpers of the bench scripts: the workload, a throw-away database, server processes, timings, and the
standard row of an issue 15 target."""

import contextlib
import http.client
import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# --- figures ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"{name:<36} p50 {percentile(ms, 0.5):7.3f} ms   p99 {percentile(ms, 0.99):7.3f} ms"


def rate(name: str, count: int, seconds: float, unit: str = "pairs/s") -> str:
    per = seconds / count if count else 0.0
    return f"{name:<36} {count / seconds:10.0f} {unit:<8} ({per * 1e6:9.1f} µs each)"


# --- issue 15's targets ---------------------------------------------------------------------------

TARGETS_HEADER = f"{'target':<52} {'figure':>9} {'baseline':>9} {'ratio':>7} {'bound':>16}  met"
TARGETS_LEGEND = (
    "# ratio: figure / baseline; bound Nx: on that ratio; bound with a unit: on the figure; -: informational"
)


def targets_heading(note: str = "") -> None:
    """The heading of a script's target rows (note: what the run ran on, e.g. the load average)."""
    print(f"## targets{f' ({note})' if note else ''}")
    print(TARGETS_LEGEND)
    print(TARGETS_HEADER)


def target(
    title: str,
    figure: float,
    baseline: float | None,
    bound: float | None,
    *,
    higher: bool = True,
    relative: bool = True,
    unit: str = "",
    met: bool | None = None,
) -> bool:
    """Print one of issue 15's targets in the standard row and, when RHYTHMIC_BENCH_TARGETS names a file, append
    it there as a JSON line (bench/targets.py prints the whole run's). Whether it is met, returned.

    ``relative``: the bound is a ratio to the baseline measured in the same run (">= 2x chantilly"); otherwise
    an absolute figure in ``unit`` (">= 1500 req/s", "<= 5 ms"), the ratio to the baseline then informational.
    ``bound`` None: an informational row, ``met`` its check (many_models: predictions identical)."""
    ratio = figure / baseline if baseline else None
    if bound is None:
        assert met is not None, "an informational row needs its own check"
    else:
        value = ratio if relative else figure
        met = value is not None and (value >= bound if higher else value <= bound)
    row = {
        "script": Path(sys.argv[0]).name,
        "title": title,
        "figure": figure,
        "baseline": baseline,
        "ratio": ratio,
        "bound": bound,
        "relative": relative,
        "higher": higher,
        "unit": unit,
        "met": met,
    }
    print(target_row(row))
    path = os.environ.get("RHYTHMIC_BENCH_TARGETS")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps(row) + "\n")
    return met


def target_row(row: dict) -> str:
    """One target as a line under TARGETS_HEADER: an absolute bound with its unit, a ratio bound with an x."""

    def number(value: float | None, width: int) -> str:
        return f"{value:{width}.2f}" if value is not None else f"{'-':>{width}}"

    if row["bound"] is None:
        bound = "-"
    else:
        sign = ">=" if row["higher"] else "<="
        bound = f"{sign} {row['bound']:,g}x" if row["relative"] else f"{sign} {row['bound']:,g} {row['unit']}".rstrip()
    return (
        f"{row['title']:<52} {number(row['figure'], 9)} {number(row['baseline'], 9)} {number(row['ratio'], 7)} "
        f"{bound:>16}  {'yes' if row['met'] else 'NO'}"
    )


# --- the workload -------------------------------------------------------------------------------


def stream(n: int) -> list[tuple[dict, float]]:
    """River's bundled TrumpApproval stream, cycled to ``n`` examples."""
    from river import datasets

    return list(itertools.islice(itertools.cycle(datasets.TrumpApproval()), n))


def new_model():
    from river import linear_model, preprocessing

    return preprocessing.StandardScaler() | linear_model.LinearRegression()


def river_floor(data) -> tuple[float, list]:
    """(seconds per predict_one + learn_one pair, the predictions): river alone, the reference."""
    model = new_model()
    predictions = []
    started = time.perf_counter()
    for x, y in data:
        predictions.append(model.predict_one(x))
        model.learn_one(x, y)
    return (time.perf_counter() - started) / len(data), predictions


# --- a throw-away database with live models -----------------------------------------------------


def environment(database_url: str = "", **extra: str) -> dict:
    """Environment of the bench and its servers: a temporary var/ (SQLite) or the named Postgres database."""
    env = {
        "DJANGO_SETTINGS_MODULE": "rhythmic.settings",
        # As in production: DEBUG off (no SQL kept per query); a throw-away secret for this run.
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "RHYTHMIC_VAR_DIR": tempfile.mkdtemp(prefix="rhythmic-bench-"),
        "RHYTHMIC_LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        **extra,
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    return env


def ensure_postgres_database(database_url: str) -> None:
    """Create the Postgres database named in the URL when it does not exist."""
    if not database_url.startswith("postgres"):
        return
    import psycopg

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def prepare(env: dict, names: list[str]) -> str:
    """Migrate the bench database, create a user with a token and a fresh live model per name; the token."""
    os.environ.update(env)
    ensure_postgres_database(os.environ.get("DATABASE_URL", ""))
    import django

    django.setup()
    import dill
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from catalogue import services
    from catalogue.models import MLModel
    from tests import factories

    call_command("migrate", verbosity=0)
    user = factories.UserFactory(username="bench", permissions=["infer_mlmodel"])
    MLModel.objects.filter(name__in=names).delete()
    for name in names:
        model = services.model_create(name=name, flavor="regression")
        version, _ = services.model_version_register(model=model, data=dill.dumps(new_model()), validate=False)
        services.model_version_validate(version_id=version.pk)
        services.deployment_promote(version=version)
    from django.db import connections

    connections.close_all()  # forked client processes must not share this connection
    return Token.objects.get_or_create(user=user)[0].key


# --- server processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


GRANIAN = [sys.executable, "-m", "granian", "--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"]

SERVERS = {
    "gunicorn": lambda port, workers: [
        sys.executable,
        "-m",
        "gunicorn",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(workers),
        # gthread keeps a client's connection open between requests (the sync worker closes it after each)
        "--worker-class",
        "gthread",
        "--threads",
        "1",
        "rhythmic.wsgi:application",
    ],
    "daphne": lambda port, workers: [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "rhythmic.asgi:application",
    ],
    # Relative to the checkout the server runs from (server_process's root).
    "topology": lambda port, workers: ["bash", "scripts/topology.sh"],
    # What `make run` starts (scripts/run.sh: setup, migrate, bootstrap, then rhythmic.serve).
    "run": lambda port, workers: ["bash", "scripts/run.sh"],
    # make run's server alone: uvicorn with rhythmic.onesite (WSGI threads + Channels), its GIL switch interval.
    "serve": lambda port, workers: [sys.executable, "-m", "rhythmic.serve"],
    # The candidates it was chosen from (bench/stacks.py).
    "granian-onesite": lambda port, workers: [
        *GRANIAN,
        "--interface",
        "asgi",
        "--port",
        str(port),
        "rhythmic.onesite:application",
    ],
    "granian-wsgi": lambda port, workers: [
        *GRANIAN,
        "--interface",
        "wsgi",
        "--blocking-threads",
        "1",
        "--port",
        str(port),
        "rhythmic.wsgi:application",
    ],
    "granian-asgi": lambda port, workers: [
        *GRANIAN,
        "--interface",
        "asgi",
        "--port",
        str(port),
        "rhythmic.asgi:application",
    ],
    "uvicorn-onesite": lambda port, workers: [
        sys.executable,
        "-m",
        "uvicorn",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "rhythmic.onesite:application",
    ],
    "daphne-onesite": lambda port, workers: [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "rhythmic.onesite:application",
    ],
}


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited early with status {process.returncode}")
        try:
            if requests.get(f"{url}/livez", timeout=5).ok:
                return
        except requests.RequestException:
            time.sleep(0.1)  # nothing to await: the port opens when the server is ready
    stop(process)
    raise SystemExit(f"the server at {url} did not answer within {timeout} s")


@contextlib.contextmanager
def server(
    env: dict, kind: str, *, workers: int = 1, port: int = 0, quiet: bool = True, root: Path = ROOT
) -> Iterator[str]:
    """A running server of ``kind`` on ``port`` (0: a free one); yields its URL and stops it afterwards.
    ``root``: the checkout it runs from (another one: a baseline measured in the same run)."""
    with server_process(env, kind, workers=workers, port=port, quiet=quiet, root=root) as (url, _):
        yield url


@contextlib.contextmanager
def server_process(
    env: dict, kind: str, *, workers: int = 1, port: int = 0, quiet: bool = True, root: Path = ROOT
) -> Iterator[tuple[str, subprocess.Popen]]:
    """server(), yielding the process too (for a bench that reads the server's own CPU time)."""
    port = port or free_port()
    extra = {"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
    if kind == "topology":
        extra.update(WSGI_PORT=str(free_port()), ASGI_PORT=str(free_port()))
    log = tempfile.NamedTemporaryFile(prefix=f"rhythmic-bench-{kind}-", suffix=".log", delete=False)  # noqa: SIM115 - open while the server runs
    process = subprocess.Popen(
        SERVERS[kind](port, workers),
        cwd=root,
        env={**os.environ, **env, **extra},
        stdout=log if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        start_new_session=True,  # its own process group: stopping it stops its children
    )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url, process, timeout=300 if kind in ("topology", "run") else 60)
        except SystemExit as exc:
            raise SystemExit(f"{exc}; its log ({log.name}) ends with:\n{Path(log.name).read_text()[-3000:]}") from None
        yield url, process
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


# --- clients ------------------------------------------------------------------------------------


def http_pairs(url: str, token: str, model: str, data) -> tuple[float, list[float], list[float], list]:
    """One keep-alive client: predict(id) + learn(id) per example. (seconds, predict times, learn times, predictions)

    The client is LightClient (http.client): requests costs about a millisecond of client CPU per call here,
    which would weigh on the server's share of two cores (bench/chantilly.py shows both clients)."""
    client = LightClient(url, {"Authorization": f"Token {token}"})
    predict_path = f"/api/v1/models/{model}/predict"
    learn_path = f"/api/v1/models/{model}/learn"
    predict_times, learn_times, predictions = [], [], []
    started = time.perf_counter()
    for i, (x, y) in enumerate(data):
        t0 = time.perf_counter()
        answer = client.post(predict_path, {"features": x, "id": i})
        t1 = time.perf_counter()
        client.post(learn_path, {"id": i, "ground_truth": y})
        learn_times.append(time.perf_counter() - t1)
        predict_times.append(t1 - t0)
        predictions.append(answer["prediction"])
    return time.perf_counter() - started, predict_times, learn_times, predictions


def core_pairs(model: str, data) -> float:
    """Seconds for predict(id) + learn(id) per example through the serving core in this process (after prepare())."""
    import serving

    started = time.perf_counter()
    for i, (x, y) in enumerate(data):
        serving.predict(model=model, features=x, id=i)
        serving.learn(model=model, id=i, ground_truth=y)
    return time.perf_counter() - started


class LightClient:
    """A keep-alive client on the standard library's http.client: a fraction of requests' cost per call, so
    the figures it gives are closer to the server's own. Reconnects when the server closes the connection."""

    def __init__(self, url: str, headers: dict | None = None) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port)
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    def post(self, path: str, body: dict) -> dict:
        return json.loads(self.call("POST", path, json.dumps(body)))

    def call(self, method: str, path: str, body: str | None = None) -> bytes:
        self.connection.request(method, path, body, self.headers)
        response = self.connection.getresponse()
        payload = response.read()
        if response.status >= 400:
            raise SystemExit(f"{method} {path} answered {response.status}: {payload[:300]!r}")
        return payload


def in_processes(function: Callable, argument_lists: list[tuple]) -> tuple[float, list]:
    """Run ``function(*arguments)`` in one process per argument list, started together; (wall seconds, results)."""
    with ProcessPoolExecutor(len(argument_lists)) as pool:
        list(pool.map(time.sleep, [0] * len(argument_lists)))  # the workers exist before the clock starts
        started = time.perf_counter()
        futures = [pool.submit(function, *arguments) for arguments in argument_lists]
        results = [future.result() for future in futures]
        return time.perf_counter() - started, results


def floor_requests(url: str, n: int) -> list[float]:
    """Seconds of each of ``n`` GET /livez, through the same client as the pairs: the cost of a trivial view."""
    client = LightClient(url)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.call("GET", "/livez")
        times.append(time.perf_counter() - t0)
    return times


def prepare_elsewhere(env: dict, names: list[str], root: Path = ROOT) -> str:
    """prepare() in a child process, so one bench can set up several databases; returns the token.
    ``root``: the checkout whose code prepares it."""
    out = subprocess.run(
        [sys.executable, str(root / "bench" / "common.py"), "prepare", *names],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"preparing the bench database failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


if __name__ == "__main__" and sys.argv[1:2] == ["prepare"]:
    print(prepare({key: os.environ[key] for key in ("DJANGO_SETTINGS_MODULE",)}, sys.argv[2:]))
