"""One keep-alive client sending predict(id) + learn(id) pairs to a real Rhythmic server.

Prints pairs/s and p50/p99 per route, next to the floor (the same server answering a trivial view),
the serving core called in-process (no HTTP), and river alone, under gunicorn (WSGI) and daphne (ASGI).
Usage:

    .venv/bin/python bench/serving.py [--pairs 2000] [--database-url postgres://postgres@127.0.0.1:5432/bench]

Without --database-url it runs on the embedded default (SQLite in a temporary folder).
"""

import argparse
import statistics

from common import (
    core_pairs,
    describe,
    environment,
    floor_requests,
    http_pairs,
    prepare,
    rate,
    river_floor,
    server,
    stream,
)

KINDS = ("gunicorn", "daphne")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--port", type=int, default=0, help="first port (default: free ones)")
    parser.add_argument("--server", choices=[*KINDS, "both"], default="both")
    args = parser.parse_args()

    env = environment(args.database_url)
    data = stream(args.pairs)
    token = prepare(env, ["bench", "bench-core"])  # in this process too: the core runs here
    where = "postgres" if args.database_url else "sqlite (embedded)"

    river_s = river_floor(data)[0] * args.pairs
    core_s = core_pairs("bench-core", data)
    print(f"# serving bench: {args.pairs} predict(id)+learn(id) pairs, one keep-alive client, {where}")
    print(rate("river in-process", args.pairs, river_s))
    print(rate("serving core in-process", args.pairs, core_s))
    kinds = KINDS if args.server == "both" else [args.server]
    for offset, kind in enumerate(kinds):
        with server(env, kind, port=args.port + offset if args.port else 0) as url:
            floor_requests(url, 200)  # warm-up
            floor = floor_requests(url, args.pairs)
            seconds, predict_t, learn_t, _ = http_pairs(url, token, "bench", data)
        print(rate(f"{kind}: HTTP predict+learn", args.pairs, seconds))
        print(rate(f"{kind}: trivial view floor", len(floor), sum(floor), "req/s"))
        print(describe(f"  {kind} predict", predict_t))
        print(describe(f"  {kind} learn", learn_t))
        print(describe(f"  {kind} floor", floor))
        print(f"  ratio: a pair costs {seconds / args.pairs / (2 * statistics.fmean(floor)):.2f}x two floor requests")
    print(f"ratio: the core costs {core_s / river_s:.1f}x river alone per pair")


if __name__ == "__main__":
    main()
