"""Streaming inference over a WebSocket: predict + learn pairs/s on one connection and on N, per server stack.

    .venv/bin/python bench/websocket.py [--pairs 20000] [--batch 500] [--window 4] [--connections 4]
        [--database-url postgres://postgres@127.0.0.1:5432/bench]

Each pair is a predict with an id and a learn of that id. Pipelined: frames of --batch predicts then
--batch learns, --window frames in flight (rhythmic_client's Stream.send_many). Baseline in the same run:
the same connection one message per round trip, and river in-process. Predictions are checked against
river fed the same mini-batches (a batch's predictions are made before it is learned).
"""

import argparse
import time

from common import environment, in_processes, prepare_elsewhere, rate, river_floor, server, stream


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


def pipelined(url: str, token: str, model: str, data, batch: int, window: int) -> tuple[float, list]:
    from rhythmic_client import Client

    frames = messages(data, batch)
    with Client(url, token).stream(model, batch=batch, window=window) as session:
        session.predict(data[0][0])  # connect and warm the replica before the clock starts
        started = time.perf_counter()
        answers = session.send_many(frames)
        seconds = time.perf_counter() - started
    errors = [a for a in answers if "error" in a]
    if errors:
        raise SystemExit(f"{len(errors)} messages failed, the first: {errors[0]}")
    return seconds, [a["prediction"] for a in answers if "seq" not in a]  # learns answer with their log seq


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
    parser.add_argument("--single-pairs", type=int, default=1000, help="pairs of the one-message-per-trip baseline")
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--stacks", default="serve,daphne", help="servers to run it on (bench/common.py SERVERS; serve: make run's)"
    )
    args = parser.parse_args()

    data = stream(args.pairs)
    river_s, _ = river_floor(data)
    reference = minibatch_reference(data, args.batch)
    stacks = args.stacks.split(",")
    # Each stack its own models, so each one's predictions compare with river fed from scratch.
    models = {stack: [f"ws-{stack}-{i}" for i in range(args.connections + 2)] for stack in stacks}
    env = environment(args.database_url)
    token = prepare_elsewhere(env, [name for names in models.values() for name in names])
    where = "postgres" if args.database_url else "sqlite (embedded)"
    print(f"# WebSocket bench: {args.pairs} pairs, frames of {args.batch}, window {args.window}, {where}")
    print(rate("river in-process (floor)", args.pairs, river_s * args.pairs))
    for stack in stacks:
        run_on(stack, env, token, models[stack], data, reference, args)


def run_on(stack: str, env: dict, token: str, models: list[str], data, reference, args) -> None:
    print(f"## {stack}")
    with server(env, stack) as url:
        single = one_by_one(url, token, models[-1], data[: args.single_pairs])
        print(rate("1 connection, one message per trip", min(args.single_pairs, len(data)), single))
        seconds, predictions = pipelined(url, token, models[0], data, args.batch, args.window)
        print(rate("1 connection, pipelined arrays", args.pairs, seconds))
        wall, results = in_processes(
            pipelined,
            [(url, token, model, data, args.batch, args.window) for model in models[1 : args.connections + 1]],
        )
        print(rate(f"{args.connections} connections, pipelined arrays", args.pairs * args.connections, wall))
    same = predictions == reference and all(result[1] == reference for result in results)
    print(f"predictions identical to river fed the same mini-batches: {'yes' if same else 'NO'}")
    per_single = single / min(args.single_pairs, len(data))
    print(f"ratio: pipelined / one message per trip = {per_single / (seconds / args.pairs):.1f}x")


if __name__ == "__main__":
    main()
