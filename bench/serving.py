"""One keep-alive client sending predict(id) + learn(id) pairs to a real Rhythmic server.

Prints pairs/s and p50/p99 per route, next to the floor (the same server answering a trivial view),
the serving core called in-process (no HTTP), and river alone, under gunicorn (WSGI) and daphne (ASGI).
Usage:

    .venv/bin/python bench/serving.py [--pairs 2000] [--database-url postgres://postgres@127.0.0.1:5432/bench]

Without --database-url it runs on the embedded default (SQLite in a temporary folder).
"""

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"{name:<28} p50 {percentile(ms, 0.5):7.3f} ms   p99 {percentile(ms, 0.99):7.3f} ms"


def stream(n: int) -> list[tuple[dict, float]]:
    from river import datasets

    return list(itertools.islice(itertools.cycle(datasets.TrumpApproval()), n))


def new_model():
    from river import linear_model, preprocessing

    return preprocessing.StandardScaler() | linear_model.LinearRegression()


def river_floor(data) -> float:
    """Seconds per predict_one + learn_one pair, river alone."""
    model = new_model()
    started = time.perf_counter()
    for x, y in data:
        model.predict_one(x)
        model.learn_one(x, y)
    return (time.perf_counter() - started) / len(data)


def prepare(env: dict) -> str:
    """Migrate the bench database, create a user with a token and a live model; returns the token."""
    os.environ.update(env)
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
    MLModel.objects.filter(name__in=["bench", "bench-core"]).delete()
    for name in ("bench", "bench-core"):
        model = services.model_create(name=name, flavor="regression")
        version, _ = services.model_version_register(model=model, data=dill.dumps(new_model()), validate=False)
        services.model_version_validate(version_id=version.pk)
        services.deployment_promote(version=version)
    return Token.objects.get_or_create(user=user)[0].key


def core_pairs(data) -> float:
    """Seconds per pair through the serving core in this process (database, no HTTP)."""
    from catalogue import runtime

    started = time.perf_counter()
    for i, (x, y) in enumerate(data):
        runtime.predict(model="bench-core", features=x, id=i)
        runtime.learn(model="bench-core", id=i, ground_truth=y)
    return (time.perf_counter() - started) / len(data)


SERVERS = {
    "gunicorn": lambda port: ["-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1", "rhythmic.wsgi:application"],
    "daphne": lambda port: ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "rhythmic.asgi:application"],
}


def start_server(env: dict, port: int, kind: str) -> subprocess.Popen:
    import requests

    process = subprocess.Popen(
        [sys.executable, *SERVERS[kind](port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/livez", timeout=5).ok:
                return process
        except requests.RequestException:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the server did not start")


def http_pairs(url: str, token: str, data) -> tuple[float, list[float], list[float]]:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    predict_times, learn_times = [], []
    started = time.perf_counter()
    for i, (x, y) in enumerate(data):
        t0 = time.perf_counter()
        session.post(f"{url}/api/v1/models/bench/predict", json={"features": x, "id": i}).raise_for_status()
        t1 = time.perf_counter()
        session.post(f"{url}/api/v1/models/bench/learn", json={"id": i, "ground_truth": y}).raise_for_status()
        learn_times.append(time.perf_counter() - t1)
        predict_times.append(t1 - t0)
    return (time.perf_counter() - started) / len(data), predict_times, learn_times


def floor_requests(url: str, n: int) -> list[float]:
    import requests

    session = requests.Session()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        session.get(f"{url}/livez").raise_for_status()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--port", type=int, default=0, help="first port (default: free ones)")
    parser.add_argument("--server", choices=[*SERVERS, "both"], default="both")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="rhythmic-bench-")
    env = {"DJANGO_SETTINGS_MODULE": "rhythmic.settings", "RHYTHMIC_VAR_DIR": workdir, "RHYTHMIC_LOG_LEVEL": "WARNING"}
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    data = stream(args.pairs)
    token = prepare(env)
    where = "postgres" if args.database_url else "sqlite (embedded)"

    river_s = river_floor(data)
    core_s = core_pairs(data)
    print(f"# serving bench: {args.pairs} predict(id)+learn(id) pairs, one keep-alive client, {where}")
    print(f"river in-process             {1 / river_s:10.0f} pairs/s   ({river_s * 1e6:8.1f} µs/pair)")
    print(f"serving core in-process      {1 / core_s:10.0f} pairs/s   ({core_s * 1e6:8.1f} µs/pair)")
    kinds = list(SERVERS) if args.server == "both" else [args.server]
    for offset, kind in enumerate(kinds):
        port = args.port + offset if args.port else free_port()
        server = start_server(env, port, kind)
        url = f"http://127.0.0.1:{port}"
        try:
            floor_requests(url, 200)  # warm-up
            floor = floor_requests(url, args.pairs)
            http_s, predict_t, learn_t = http_pairs(url, token, data)
        finally:
            server.terminate()
            server.wait(10)
        floor_mean = statistics.fmean(floor)
        print(f"{kind}: HTTP predict+learn  {1 / http_s:10.0f} pairs/s   ({http_s * 1e3:8.3f} ms/pair)")
        print(f"{kind}: trivial view floor {1 / floor_mean:10.0f} req/s     ({floor_mean * 1e3:8.3f} ms/req)")
        print(describe(f"  {kind} predict", predict_t))
        print(describe(f"  {kind} learn", learn_t))
        print(describe(f"  {kind} floor", floor))
        print(f"  ratio: a pair costs {http_s / (2 * floor_mean):.2f}x two floor requests")
    print(f"ratio: the core costs {core_s / river_s:.1f}x river alone per pair")


if __name__ == "__main__":
    main()
