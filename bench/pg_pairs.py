"""The PostgreSQL path: predict(id) + learn(id) pairs on the production topology, against a baseline checkout.

    .venv/bin/python bench/pg_pairs.py --database-url postgres://postgres@127.0.0.1:5432/bench_pg \\
        [--baseline <git revision>] [--pairs 500] [--rounds 2] [--clients 4] [--stack topology|gunicorn]

The stack (``topology``: scripts/topology.sh, nginx in front of 4 gunicorn workers, daphne, Celery; or one
gunicorn worker) runs on Postgres and Redis; one keep-alive ``http.client`` client, then ``--clients`` at once
(a model each). With ``--baseline``, that revision is extracted (``git archive``, this venv) and measured in the
same run, on a database of its own, rounds alternating between the two checkouts; printed: medians and the
ratios. The round trips per request are counted by bench/round_trips.py. Issue 15's targets (common.target): one
client >= 200 pairs/s (beside the baseline checkout's, else the bound) and N clients >= 2x one client of this run.
"""

import argparse
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from common import (
    ROOT,
    environment,
    http_pairs,
    in_processes,
    prepare_elsewhere,
    server,
    stream,
    target,
    targets_heading,
)


def extract(revision: str) -> Path:
    """The tree of ``revision`` in a temporary folder, with this checkout's venv."""
    folder = Path(tempfile.mkdtemp(prefix="rhythmic-baseline-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    (folder / ".venv").symlink_to((ROOT / ".venv").resolve())
    return folder


def measure(root: Path, env: dict, models: list[str], data, args) -> tuple[float, float, bool]:
    """(1 client pairs/s, N clients pairs/s, predictions of every client the same) on a fresh set of models."""
    token = prepare_elsewhere(env, models, root=root)
    with server(env, args.stack, workers=args.workers, root=root) as url:
        http_pairs(url, token, models[0], data[:50])  # warm-up: connections, replicas, token cache
        token = prepare_elsewhere(env, models, root=root)  # fresh models: every run starts from the same state
        seconds, _, _, first = http_pairs(url, token, models[0], data)
        wall, results = in_processes(http_pairs, [(url, token, model, data) for model in models[1 : args.clients + 1]])
    same = all(result[3] == first for result in results)
    return len(data) / seconds, len(data) * args.clients / wall, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="postgres://...: this checkout's database")
    parser.add_argument("--baseline", default="", help="a git revision measured in the same run")
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--stack", choices=["topology", "gunicorn"], default="topology")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers in the topology")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument(
        "--variant", action="append", default=[], help="KEY=VALUE: also this checkout with that setting (repeatable)"
    )
    args = parser.parse_args()
    if args.stack == "topology" and shutil.which("nginx") is None:
        raise SystemExit("the topology needs nginx (apt-get install -y nginx); or pass --stack gunicorn")

    data = stream(args.pairs)
    models = [f"pg-{i}" for i in range(args.clients + 1)]
    checkouts = {"this checkout": (ROOT, args.database_url, {})}
    for variant in args.variant:
        key, _, value = variant.partition("=")
        checkouts[f"this, {variant}"] = (ROOT, args.database_url, {key: value})
    if args.baseline:
        base = (extract(args.baseline), f"{args.database_url}_base", {})
        checkouts = {f"baseline {args.baseline}": base, **checkouts}
    figures: dict[str, list[tuple[float, float, bool]]] = {name: [] for name in checkouts}
    print(f"# Postgres pairs: {args.pairs} predict(id)+learn(id) per client, {args.stack}, {args.rounds} rounds")
    for round_number in range(args.rounds):
        names = list(checkouts) if round_number % 2 == 0 else list(reversed(checkouts))
        for name in names:
            root, url, extra = checkouts[name]
            env = environment(
                url,
                **extra,
                REDIS_URL=args.redis_url,
                TOPOLOGY_DIR=tempfile.mkdtemp(prefix="rhythmic-topology-"),
                CELERY_TASK_ALWAYS_EAGER="0",
            )
            one, many, same = measure(root, env, models, data, args)
            figures[name].append((one, many, same))
            print(f"round {round_number + 1}, {name}: 1 client {one:.0f} pairs/s, {args.clients} clients {many:.0f}")
    print(f"{'checkout':<28} {'1 client':>9} {f'{args.clients} clients':>10} {'scaling':>8}  predictions same")
    for name, runs in figures.items():
        one = statistics.median(r[0] for r in runs)
        many = statistics.median(r[1] for r in runs)
        same = "yes" if all(r[2] for r in runs) else "NO"
        print(f"{name:<28} {one:9.0f} {many:10.0f} {many / one:7.2f}x  {same}")
    if args.baseline:
        base = figures[f"baseline {args.baseline}"]
        for name in list(checkouts)[1:]:
            for index, label in ((0, "1 client"), (1, f"{args.clients} clients")):
                ratio = statistics.median(r[index] for r in figures[name]) / statistics.median(r[index] for r in base)
                print(f"ratio: {name} / baseline, {label}: {ratio:.2f}x")
    this = figures["this checkout"]
    one, many = (statistics.median(r[index] for r in this) for index in (0, 1))
    baseline = statistics.median(r[0] for r in figures[f"baseline {args.baseline}"]) if args.baseline else 200.0
    targets_heading(f"PostgreSQL, {args.stack}")
    target("PostgreSQL pairs/s, 1 client >= 200", one, baseline, 200.0, relative=False, unit="pairs/s")
    target(f"PostgreSQL pairs/s, {args.clients} clients >= 2x 1 client", many, one, 2.0)


if __name__ == "__main__":
    main()
