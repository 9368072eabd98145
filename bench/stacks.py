"""Which server stack `make run` should start: every candidate side by side, interleaved rounds, medians.

    .venv/bin/python bench/stacks.py [--pairs 300] [--rounds 5] [--client http.client] [--stacks a,b,...]

Every candidate serves the same embedded SQLite database (a model of its own each) and runs at the same time;
each round sends ``--pairs`` predict(id) + learn(id) pairs to every stack in turn (the order rotates), so load
on the shared machine falls on all of them alike. Printed: median pairs/s, server CPU per pair (user + sys of
the server's processes), predict p50/p99 over all rounds, a trivial view's req/s, and the ratio to the first.
"""

import argparse
import contextlib

from common import ROOT, environment, percentile, prepare_elsewhere, server_process, stream
from measure import CLIENTS, gets, load, median, pairs, server_cpu

CANDIDATES = ["granian-onesite", "granian-wsgi", "uvicorn-onesite", "daphne-onesite", "gunicorn", "daphne"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--client", choices=list(CLIENTS), default="http.client")
    parser.add_argument("--stacks", default=",".join(CANDIDATES))
    args = parser.parse_args()
    stacks = args.stacks.split(",")
    names = [stack.replace("-", "_") for stack in stacks]
    env = environment("")
    token = prepare_elsewhere(env, names)
    data = stream(args.pairs)
    print(f"# server stacks, {args.pairs} pairs x {args.rounds} rounds each, client {args.client}; {load()}")
    print(f"# (var: {env['RHYTHMIC_VAR_DIR']}, {ROOT})")
    figures = {stack: {"rates": [], "cpu": [], "predict": [], "floor": []} for stack in stacks}
    with contextlib.ExitStack() as started:
        servers = {stack: started.enter_context(server_process(env, stack)) for stack in stacks}
        clients = {}
        for stack, name in zip(stacks, names, strict=True):
            url = servers[stack][0]
            clients[stack] = CLIENTS[args.client](url, {"Authorization": f"Token {token}"})
            routes = (f"/api/v1/models/{name}/predict", f"/api/v1/models/{name}/learn")
            pairs(clients[stack], routes, {}, data[:30], -100_000)
        for round_number in range(args.rounds):
            order = stacks[round_number % len(stacks) :] + stacks[: round_number % len(stacks)]
            for stack in order:
                name = names[stacks.index(stack)]
                routes = (f"/api/v1/models/{name}/predict", f"/api/v1/models/{name}/learn")
                cpu = server_cpu(servers[stack][1].pid)
                seconds, predict_times, _ = pairs(clients[stack], routes, {}, data, round_number * len(data))
                figure = figures[stack]
                figure["cpu"].append((server_cpu(servers[stack][1].pid) - cpu) / args.pairs)
                figure["rates"].append(args.pairs / seconds)
                figure["predict"] += predict_times
                floor = gets(clients[stack], "/livez", args.pairs)
                figure["floor"].append(len(floor) / sum(floor))
    first = median(figures[stacks[0]]["rates"])
    print(f"{'stack':<18} {'pairs/s':>8} {'ratio':>6} {'CPU/pair':>9} {'p50':>7} {'p99':>7} {'livez/s':>8}")
    for stack in stacks:
        figure = figures[stack]
        predict_ms = [t * 1000 for t in figure["predict"]]
        rate = median(figure["rates"])
        print(
            f"{stack:<18} {rate:8.0f} {rate / first:6.2f} {median(figure['cpu']) * 1000:7.2f}ms "
            f"{percentile(predict_ms, 0.5):6.2f}ms {percentile(predict_ms, 0.99):6.2f}ms {median(figure['floor']):8.0f}"
        )
    print("# per round pairs/s:", {stack: [round(r) for r in figures[stack]["rates"]] for stack in stacks})
    print(f"# done; {load()}")


if __name__ == "__main__":
    main()
