"""The floor under every figure: river alone, in-process, on the bench workload (no database, no server).

    .venv/bin/python bench/river_floor.py [--pairs 20000]

Prints predict_one + learn_one pairs/s, and predict_one and learn_one alone.
"""

import argparse
import time

from common import new_model, rate, river_floor, stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--database-url", default="", help="ignored: river needs no database")
    args = parser.parse_args()
    data = stream(args.pairs)
    print(f"# river floor: {args.pairs} examples of TrumpApproval, StandardScaler | LinearRegression")
    seconds, _ = river_floor(data)
    print(rate("river predict_one + learn_one", args.pairs, seconds * args.pairs))
    model = new_model()
    for x, y in data:
        model.learn_one(x, y)
    started = time.perf_counter()
    for x, _ in data:
        model.predict_one(x)
    print(rate("river predict_one", args.pairs, time.perf_counter() - started, "rows/s"))
    model = new_model()
    started = time.perf_counter()
    for x, y in data:
        model.learn_one(x, y)
    print(rate("river learn_one", args.pairs, time.perf_counter() - started, "rows/s"))


if __name__ == "__main__":
    main()
