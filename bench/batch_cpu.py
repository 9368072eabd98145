"""CPU time per row of the serving core's predict_many and learn_many in process, so a before/after can be read
on a machine shared with other jobs (wall time swings there):

    .venv/bin/python bench/batch_cpu.py [--rows 20000] [--batch 1000]
        [--database-url postgres://postgres@127.0.0.1:5432/bench]

It measures the checkout it is in: copy it into an older one's bench/ (``git show hmany:bench/batch_cpu.py``),
alternate runs of both and compare. The rounds are bench/batch.py's (predict with ids, learn them by
id; then learns with features on another model); ``time.process_time`` around each call.
"""

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    import batch
    from common import ROOT, environment, prepare, stream

    data = stream(args.rows)
    prepare(environment(args.database_url), ["batch-core", "batch-features"])
    import serving

    for label, model, ids in (("by id", "batch-core", True), ("with features", "batch-features", False)):
        predicting = learning = 0.0
        for predicts, learns in batch.rounds(data, args.batch, ids=ids):
            t0 = time.process_time()
            serving.predict_many(model=model, items=predicts)
            t1 = time.process_time()
            serving.learn_many(model=model, items=learns)
            learning += time.process_time() - t1
            predicting += t1 - t0
        print(f"{ROOT.name}: core predict_many {label:<13} {predicting / args.rows * 1e6:8.1f} µs CPU a row")
        print(f"{ROOT.name}: core learn_many {label:<15} {learning / args.rows * 1e6:8.1f} µs CPU a row")


if __name__ == "__main__":
    main()
