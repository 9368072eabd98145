"""predict-many and learn-many: rows/s through the serving core in-process and over HTTP (gunicorn, 1 worker).

    .venv/bin/python bench/batch.py [--rows 20000] [--batch 1000]
        [--database-url postgres://postgres@127.0.0.1:5432/bench]

Each round predicts --batch rows with ids, then learns them by id. Baseline in the same run: river alone,
and the core one row at a time (predict + learn). Issue 15's target (common.target): HTTP learn-many >= 20,000 rows/s
embedded, >= 10,000 on PostgreSQL, beside the one-at-a-time rate.
"""

import argparse
import time

from common import (
    core_pairs,
    environment,
    prepare,
    prepare_elsewhere,
    rate,
    river_floor,
    server,
    stream,
    target,
    targets_heading,
)


def rounds(data, batch: int, *, ids: bool = True):
    """(predict items, learn items) per batch: by id (the predictions are stored), or learns with features."""
    for start in range(0, len(data), batch):
        chunk = list(enumerate(data[start : start + batch], start))
        if ids:
            yield (
                [{"features": x, "id": i} for i, (x, _) in chunk],
                [{"id": i, "ground_truth": y} for i, (_, y) in chunk],
            )
        else:
            yield [{"features": x} for _, (x, _) in chunk], [{"features": x, "ground_truth": y} for _, (x, y) in chunk]


def core(data, batch: int, *, model: str = "batch-core", ids: bool = True) -> tuple[float, float]:
    """(seconds predicting, seconds learning), the serving core called in this process."""
    import serving

    predicting = learning = 0.0
    for predicts, learns in rounds(data, batch, ids=ids):
        t0 = time.perf_counter()
        results = serving.predict_many(model=model, items=predicts)
        t1 = time.perf_counter()
        learned = serving.learn_many(model=model, items=learns)
        learning += time.perf_counter() - t1
        predicting += t1 - t0
        assert not any("error" in r for r in results + learned), "a batch item failed"
    return predicting, learning


def over_http(url: str, token: str, data, batch: int) -> tuple[float, float]:
    from rhythmic_client import Client

    predicting = learning = 0.0
    with Client(url, token) as client:
        client.metrics("batch-http")  # warm-up: connection and replica
        for predicts, learns in rounds(data, batch):
            t0 = time.perf_counter()
            client.predict_many("batch-http", predicts)
            t1 = time.perf_counter()
            client.learn_many("batch-http", learns)
            learning += time.perf_counter() - t1
            predicting += t1 - t0
    return predicting, learning


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--single-rows", type=int, default=1000, help="rows of the one-at-a-time baseline")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    data = stream(args.rows)
    env = environment(args.database_url)
    names = ["batch-core", "batch-features", "batch-single", "batch-http"]
    token = prepare_elsewhere(env, names)
    where = "postgres" if args.database_url else "sqlite (embedded)"
    print(f"# batch bench: {args.rows} rows in batches of {args.batch}, {where}")
    river_s, _ = river_floor(data)
    print(rate("river in-process (floor), pairs", args.rows, river_s * args.rows))
    with server(env, "gunicorn") as url:
        predicting, http_learning = over_http(url, token, data, args.batch)
    print(rate("HTTP predict-many (gunicorn x1)", args.rows, predicting, "rows/s"))
    print(rate("HTTP learn-many (gunicorn x1)", args.rows, http_learning, "rows/s"))
    prepare(env, [])  # this process's Django, on the database prepared above (env wins over the caller's)
    predicting, learning = core(data, args.batch)
    print(rate("core predict_many in-process", args.rows, predicting, "rows/s"))
    print(rate("core learn_many in-process", args.rows, learning, "rows/s"))
    predicting, learning = core(data, args.batch, model="batch-features", ids=False)
    print(rate("core predict_many, no ids", args.rows, predicting, "rows/s"))
    print(rate("core learn_many with features", args.rows, learning, "rows/s"))
    single = min(args.single_rows, args.rows)
    single_seconds = core_pairs("batch-single", data[:single])
    print(rate("core one at a time, pairs (baseline)", single, single_seconds))
    targets_heading(where)
    bound, title = (10_000, "PostgreSQL") if args.database_url.startswith("postgres") else (20_000, "embedded")
    target(
        f"HTTP learn-many rows/s, {title} >= {bound:,}",
        args.rows / http_learning,
        single / single_seconds,
        bound,
        relative=False,
        unit="rows/s",
    )


if __name__ == "__main__":
    main()
