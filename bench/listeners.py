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
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, environment, http_pairs, prepare_elsewhere, rate, server_process, stream

MODEL = "bench-live"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pairs_seconds(url: str, token: str, data) -> float:
    """Seconds for all pairs, one keep-alive client. Each phase reuses ids from 0: a learn consumes its id."""
    return http_pairs(url, token, MODEL, data)[0]


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


def with_listeners(env: dict, url: str, token: str, data, count: int) -> tuple[float, dict]:
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
        seconds = pairs_seconds(url, token, data)
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
    parser.add_argument("--port", type=int, default=0, help="daphne's port (default: a free one)")
    parser.add_argument("--listen", help=argparse.SUPPRESS)  # internal: run as the listeners' process
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.listen:
        asyncio.run(listen(args.listen, args.token, args.listeners))
        return

    extra = {
        "RHYTHMIC_EVENTS_PER_SECOND": str(args.events_per_second),
        "REDIS_URL": args.redis_url,  # empty: the in-memory layer, whatever the shell's REDIS_URL says
    }
    if args.redis_url:
        extra["RHYTHMIC_CHANNEL_PREFIX"] = f"bench-{os.getpid()}"
    env = environment(args.database_url, **extra)
    token = prepare_elsewhere(env, [MODEL])
    data = stream(args.pairs)
    with server_process(env, "daphne", port=args.port) as (url, daphne):
        pairs_seconds(url, token, stream(100))  # warm-up
        cpu = cpu_seconds(daphne.pid)
        alone = pairs_seconds(url, token, data)
        cpu_alone, cpu = cpu_seconds(daphne.pid) - cpu, cpu_seconds(daphne.pid)
        watched, report = with_listeners(env, url, token, data, args.listeners)
        cpu_watched = cpu_seconds(daphne.pid) - cpu

    where = ("postgres" if args.database_url else "sqlite (embedded)") + (
        ", redis channel layer" if args.redis_url else ", in-memory channel layer"
    )
    print(f"# listeners bench: {args.pairs} predict(id)+learn(id) pairs, one keep-alive client, daphne, {where}")
    print(f"# RHYTHMIC_EVENTS_PER_SECOND={args.events_per_second}")
    for name, seconds, cpu in (
        ("0 listeners", alone, cpu_alone),
        (f"{args.listeners} listeners on ws/events/", watched, cpu_watched),
    ):
        print(f"{rate(name, args.pairs, seconds)}   server CPU {cpu / args.pairs * 1e3:6.2f} ms/pair")
    print(f"{'ratio (with / without)':<36} {alone / watched:10.2f}")
    print(
        f"predict+learn events per listener: {report['min']}-{report['max']} of {2 * args.pairs} "
        f"(last one {report['lag'] * 1e3:.0f} ms after the last pair)"
    )


if __name__ == "__main__":
    main()
