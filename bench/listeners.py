"""What live listeners cost serving: predict(id) + learn(id) pairs/s from one keep-alive HTTP client against
a real daphne server, first with no listener, then with N WebSocket clients of ws/events/ consuming every event.

The listeners run in a process of their own (asyncio, the `websockets` package), so they take no CPU from
the HTTP client's process. Usage:

    .venv/bin/python bench/listeners.py [--pairs 1000] [--listeners 20] [--events-per-second 1000000]
        [--database-url postgres://postgres@127.0.0.1:5432/bench] [--redis-url redis://127.0.0.1:6379/9]

Without --database-url it runs on the embedded default (SQLite in a temporary folder); without --redis-url
on the in-memory channel layer. --events-per-second is the server's RHYTHMIC_EVENTS_PER_SECOND: the default
here delivers every event (no sampling), the worst case for the server.
"""

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "bench-live"


def stream(n: int) -> list[tuple[dict, float]]:
    from river import datasets

    return list(itertools.islice(itertools.cycle(datasets.TrumpApproval()), n))


def prepare(env: dict) -> str:
    """Migrate the bench database, create a user with a token and a live model; returns the token."""
    os.environ.update(env)
    import django

    django.setup()
    import dill
    from django.core.management import call_command
    from river import linear_model, preprocessing

    from catalogue import services
    from catalogue.models import MLModel
    from tests import factories

    call_command("migrate", verbosity=0)
    user = factories.UserFactory(username="bench-listeners", permissions=["infer_mlmodel"])
    MLModel.objects.filter(name=MODEL).delete()
    model = services.model_create(name=MODEL, flavor="regression")
    artifact = dill.dumps(preprocessing.StandardScaler() | linear_model.LinearRegression())
    version, _ = services.model_version_register(model=model, data=artifact, validate=False)
    services.model_version_validate(version_id=version.pk)
    services.deployment_promote(version=version)
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key


def start_daphne(env: dict, port: int) -> subprocess.Popen:
    import requests

    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "rhythmic.asgi:application"],
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
    raise SystemExit("daphne did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_pairs(url: str, token: str, data, first_id: int) -> float:
    """Seconds for all pairs, one keep-alive client."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    started = time.perf_counter()
    for i, (x, y) in enumerate(data, start=first_id):
        session.post(f"{url}/api/v1/models/{MODEL}/predict", json={"features": x, "id": i}).raise_for_status()
        session.post(f"{url}/api/v1/models/{MODEL}/learn", json={"id": i, "ground_truth": y}).raise_for_status()
    return time.perf_counter() - started


# --- the listeners' process ----------------------------------------------------------------------


async def listen(url: str, token: str, count: int) -> None:
    """Open ``count`` sockets, say "ready", count events until told how many to expect, then report."""
    from websockets.asyncio.client import connect

    origin = url.replace("ws://", "http://").split("/ws/")[0]
    sockets = [
        await connect(url, additional_headers={"Authorization": f"Token {token}"}, origin=origin, max_queue=None)
        for _ in range(count)
    ]
    for socket in sockets:  # each answers once subscribed
        await socket.send('{"type": "ping"}')
        assert json.loads(await socket.recv())["type"] == "pong"
    counts = [0] * count
    last = [time.perf_counter()]

    async def consume(i: int, socket) -> None:
        async for message in socket:
            if json.loads(message)["type"] in ("predict", "learn"):  # drift events may come too
                counts[i] += 1
                last[0] = time.perf_counter()

    tasks = [asyncio.create_task(consume(i, socket)) for i, socket in enumerate(sockets)]
    print("ready", flush=True)
    expected = int(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    told = time.perf_counter()
    deadline = time.monotonic() + 30
    while min(counts) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    print(json.dumps({"min": min(counts), "max": max(counts), "lag": max(0.0, last[0] - told)}), flush=True)
    for task in tasks:
        task.cancel()
    for socket in sockets:
        await socket.close()


def with_listeners(env, url, token, data, first_id: int, count: int) -> tuple[float, dict]:
    ws_url = url.replace("http://", "ws://") + "/ws/events/"
    listeners = subprocess.Popen(
        [sys.executable, __file__, "--listen", ws_url, "--token", token, "--listeners", str(count)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if listeners.stdout.readline().strip() != "ready":
            raise SystemExit("the listeners did not connect")
        seconds = http_pairs(url, token, data, first_id)
        listeners.stdin.write(f"{2 * len(data)}\n")  # one predict and one learn event per pair
        listeners.stdin.flush()
        report = json.loads(listeners.stdout.readline())
    finally:
        listeners.wait(30)
    return seconds, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--listeners", type=int, default=20)
    parser.add_argument("--events-per-second", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--port", type=int, default=8775)
    parser.add_argument("--listen", help=argparse.SUPPRESS)  # internal: run as the listeners' process
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.listen:
        asyncio.run(listen(args.listen, args.token, args.listeners))
        return

    env = {
        "DJANGO_SETTINGS_MODULE": "rhythmic.settings",
        "RHYTHMIC_VAR_DIR": tempfile.mkdtemp(prefix="rhythmic-bench-"),
        "RHYTHMIC_LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "RHYTHMIC_EVENTS_PER_SECOND": str(args.events_per_second),
    }
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
        env["RHYTHMIC_CHANNEL_PREFIX"] = f"bench-{os.getpid()}"
    token = prepare(env)
    data = stream(args.pairs)
    url = f"http://127.0.0.1:{args.port}"
    server = start_daphne(env, args.port)
    try:
        http_pairs(url, token, stream(100), first_id=10**6)  # warm-up
        cpu = cpu_seconds(server.pid)
        alone = http_pairs(url, token, data, first_id=0)
        cpu_alone, cpu = cpu_seconds(server.pid) - cpu, cpu_seconds(server.pid)
        watched, report = with_listeners(env, url, token, data, args.pairs, args.listeners)
        cpu_watched = cpu_seconds(server.pid) - cpu
    finally:
        server.terminate()
        server.wait(10)

    where = ("postgres" if args.database_url else "sqlite (embedded)") + (
        ", redis channel layer" if args.redis_url else ", in-memory channel layer"
    )
    print(f"# listeners bench: {args.pairs} predict(id)+learn(id) pairs, one keep-alive client, daphne, {where}")
    print(f"# RHYTHMIC_EVENTS_PER_SECOND={args.events_per_second}")
    for name, seconds, cpu in (
        ("0 listeners", alone, cpu_alone),
        (f"{args.listeners} listeners on ws/events/", watched, cpu_watched),
    ):
        print(
            f"{name:<28} {args.pairs / seconds:8.1f} pairs/s   ({seconds / args.pairs * 1e3:7.2f} ms/pair, "
            f"server CPU {cpu / args.pairs * 1e3:6.2f} ms/pair)"
        )
    print(f"ratio (with / without)       {alone / watched:8.2f}")
    print(
        f"predict+learn events per listener: {report['min']}-{report['max']} of {2 * args.pairs} "
        f"(last one {report['lag'] * 1e3:.0f} ms after the last pair)"
    )


if __name__ == "__main__":
    main()
