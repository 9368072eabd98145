"""Streaming inference over a WebSocket: predict + learn pairs/s on one connection and on N, per server stack.

    .venv/bin/python bench/websocket.py [--pairs 20000] [--batch 500] [--window 4] [--connections 4]
        [--rounds 3] [--stacks serve,daphne] [--baseline /path/to/another/checkout]
        [--database-url postgres://postgres@127.0.0.1:5432/bench]

Each pair is a predict with an id and a learn of that id. Pipelined: frames of --batch predicts then
--batch learns, --window frames in flight (rhythmic_client's Stream.send_many). Every stack runs at once (``serve``
is what `make run` starts: rhythmic.serve, uvicorn with rhythmic.onesite); --rounds rounds of one pipelined
connection go to each in turn, the order rotating, each round on a fresh model; medians of the rounds, with the
server's CPU per pair (user + sys of its processes, psutil) and the client's. ``--baseline`` adds the ``serve``
stack of another checkout (the code before a change, measured in the same run, on the same database). Baselines
in the same run: river in-process, the same connection one message per round trip, and the other stacks.
Predictions are checked against river fed the same mini-batches (a batch's predictions are made before it is
learned). Issue 15's target (common.target), on ``serve`` (else the first stack): one connection >= 10,000 pairs/s
embedded, >= 5,000 on PostgreSQL, beside serve@baseline when given, else one message per round trip.
"""

import argparse
import contextlib
import statistics
import time
from pathlib import Path

from common import (
    ROOT,
    environment,
    in_processes,
    prepare_elsewhere,
    rate,
    river_floor,
    server_process,
    stream,
    target,
    targets_heading,
)
from measure import load, server_cpu


def messages(data, batch: int) -> list[dict]:
    out: list[dict] = []
    for start in range(0, len(data), batch):
        chunk = list(enumerate(data[start : start + batch], start))
        out += [{"op": "predict", "id": i, "features": x} for i, (x, _) in chunk]
        out += [{"op": "learn", "id": i, "ground_truth": y} for i, (_, y) in chunk]
    return out


def minibatch_reference(data, batch: int) -> list:
    from common import new_model

    model = new_model()
    predictions = []
    for start in range(0, len(data), batch):
        chunk = data[start : start + batch]
        predictions += [model.predict_one(x) for x, _ in chunk]
        for x, y in chunk:
            model.learn_one(x, y)
    return predictions


def pipelined(url: str, token: str, model: str, data, batch: int, window: int) -> tuple[float, list, float]:
    """(wall seconds, predictions, client CPU seconds) of one pipelined connection."""
    from rhythmic_client import Client

    frames = messages(data, batch)
    with Client(url, token).stream(model, batch=batch, window=window) as session:
        session.predict(data[0][0])  # connect and warm the replica before the clock starts
        started, cpu = time.perf_counter(), time.process_time()
        answers = session.send_many(frames)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    errors = [a for a in answers if "error" in a]
    if errors:
        raise SystemExit(f"{len(errors)} messages failed, the first: {errors[0]}")
    return seconds, [a["prediction"] for a in answers if "seq" not in a], cpu  # learns answer with their log seq


def warm_up(url: str, token: str, model: str, example) -> None:
    from rhythmic_client import Client

    with Client(url, token).stream(model) as session:
        session.learn(example[1], features=example[0])


def one_by_one(url: str, token: str, model: str, data) -> float:
    from rhythmic_client import Client

    with Client(url, token).stream(model) as session:
        session.predict(data[0][0])
        started = time.perf_counter()
        for i, (x, y) in enumerate(data):
            session.predict(x, id=i)
            session.learn(y, id=i)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of one pipelined connection")
    parser.add_argument("--single-pairs", type=int, default=1000, help="pairs of the one-message-per-trip baseline")
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--stacks", default="serve,daphne", help="servers to run it on (bench/common.py SERVERS; serve: make run's)"
    )
    parser.add_argument("--baseline", default="", help="another checkout: its `serve` runs too, as serve@baseline")
    args = parser.parse_args()

    data = stream(args.pairs)
    river_s, _ = river_floor(data)
    reference = minibatch_reference(data, args.batch)
    # (label, server kind, checkout)
    stacks = [(stack, stack, ROOT) for stack in args.stacks.split(",")]
    if args.baseline:
        stacks.append(("serve@baseline", "serve", Path(args.baseline).resolve()))
    # Each stack and round its own models, so each one's predictions compare with river fed from scratch.
    models = {
        label: [f"ws-{label.replace('@', '-')}-{i}" for i in range(args.rounds + args.connections + 1)]
        for label, _, _ in stacks
    }
    env = environment(args.database_url)
    token = prepare_elsewhere(env, [name for names in models.values() for name in names])
    where = "postgres" if args.database_url else "sqlite (embedded)"
    print(f"# WebSocket bench: {args.pairs} pairs, frames of {args.batch}, window {args.window}, {where}")
    print(f"# {time.strftime('%H:%M', time.gmtime())} UTC, {load()}")
    print(rate("river in-process (floor)", args.pairs, river_s * args.pairs))
    figures = {label: {"seconds": [], "server": [], "client": [], "same": True} for label, _, _ in stacks}
    with contextlib.ExitStack() as started:
        servers = {label: started.enter_context(server_process(env, kind, root=root)) for label, kind, root in stacks}
        for label, _, _ in stacks:
            # A server's first learn runs the learn log's prune (hourly, every model): not in a timed round.
            warm_up(servers[label][0], token, models[label][-1], data[0])
        for round_number in range(args.rounds):
            shift = round_number % len(stacks)
            for label, _, _ in stacks[shift:] + stacks[:shift]:
                url, process = servers[label]
                cpu = server_cpu(process.pid)
                seconds, predictions, client = pipelined(
                    url, token, models[label][round_number], data, args.batch, args.window
                )
                figure = figures[label]
                figure["server"].append((server_cpu(process.pid) - cpu) / args.pairs)
                figure["seconds"].append(seconds)
                figure["client"].append(client / args.pairs)
                figure["same"] &= predictions == reference
        for label, _, _ in stacks:
            run_others(label, servers[label][0], token, models[label][args.rounds :], data, reference, args, figures)
    print(f"# medians of {args.rounds} rounds, 1 connection pipelined:")
    print(f"{'stack':<16} {'pairs/s':>8} {'server CPU/pair':>16} {'client CPU/pair':>16}  per round pairs/s")
    for label, _, _ in stacks:
        figure = figures[label]
        print(
            f"{label:<16} {args.pairs / statistics.median(figure['seconds']):8.0f} "
            f"{statistics.median(figure['server']) * 1e6:13.1f} µs "
            f"{statistics.median(figure['client']) * 1e6:13.1f} µs  "
            f"{[round(args.pairs / s) for s in figure['seconds']]}"
        )
    targeted = "serve" if "serve" in figures else stacks[0][0]
    targets_heading(f"{where}, {load()}")
    bound, title = (5_000, "PostgreSQL") if args.database_url.startswith("postgres") else (10_000, "embedded")
    if args.baseline:
        baseline = args.pairs / statistics.median(figures["serve@baseline"]["seconds"])
    else:
        baseline = figures[targeted]["single"]  # the same connection, one message per round trip
    target(
        f"WebSocket pairs/s, 1 connection, {title} >= {bound:,}",
        args.pairs / statistics.median(figures[targeted]["seconds"]),
        baseline,
        bound,
        relative=False,
        unit="pairs/s",
    )
    print(f"# done, {time.strftime('%H:%M', time.gmtime())} UTC, {load()}")


def run_others(label: str, url: str, token: str, models: list[str], data, reference, args, figures) -> None:
    """The stack's section: its pipelined median, the one-message-per-trip baseline, N connections at once."""
    print(f"## {label}")
    figure = figures[label]
    single = one_by_one(url, token, models[-1], data[: args.single_pairs])
    print(rate("1 connection, one message per trip", min(args.single_pairs, len(data)), single))
    figure["single"] = min(args.single_pairs, len(data)) / single
    seconds = statistics.median(figure["seconds"])
    print(rate("1 connection, pipelined arrays", args.pairs, seconds))
    wall, results = in_processes(
        pipelined,
        [(url, token, model, data, args.batch, args.window) for model in models[: args.connections]],
    )
    print(rate(f"{args.connections} connections, pipelined arrays", args.pairs * args.connections, wall))
    same = figure["same"] and all(result[1] == reference for result in results)
    print(f"predictions identical to river fed the same mini-batches: {'yes' if same else 'NO'}")
    per_single = single / min(args.single_pairs, len(data))
    print(f"ratio: pipelined / one message per trip = {per_single / (seconds / args.pairs):.1f}x")


if __name__ == "__main__":
    main()
