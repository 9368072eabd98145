"""HTTP predict(id) + learn(id) pairs: one client and N concurrent clients, embedded and production topology.

    .venv/bin/python bench/http_pairs.py [--pairs 1000] [--clients 4]
        [--database-url postgres://postgres@127.0.0.1:5432/bench]   # also runs the production topology

Embedded: the server `make run` starts (scripts/run.sh: uvicorn with rhythmic/onesite.py, SQLite), and one
gunicorn worker on the same database. Production topology (with a Postgres --database-url and nginx
installed): scripts/topology.sh, nginx in front of WEB_CONCURRENCY gunicorn workers and daphne, Celery worker
and beat. Each client streams the same data into its own model; every prediction is checked against river in-process.
"""

import argparse
import shutil
import statistics
import tempfile

from common import (
    describe,
    environment,
    floor_requests,
    http_pairs,
    in_processes,
    prepare_elsewhere,
    rate,
    river_floor,
    server,
    stream,
)


def run(label: str, url: str, token: str, models: list[str], data, reference: list, clients: int) -> dict:
    floor_requests(url, 50)  # warm-up: connections, imports, replicas
    floor = floor_requests(url, min(len(data), 500))
    seconds, predict_t, learn_t, predictions = http_pairs(url, token, models[0], data)
    print(rate(f"{label}: 1 client", len(data), seconds))
    print(describe(f"  {label}: predict", predict_t))
    print(describe(f"  {label}: learn", learn_t))
    print(describe(f"  {label}: trivial view (floor)", floor))
    wall, results = in_processes(http_pairs, [(url, token, model, data) for model in models[1 : clients + 1]])
    total = len(data) * clients
    print(rate(f"{label}: {clients} clients", total, wall))
    all_predict = [t for result in results for t in result[1]]
    print(describe(f"  {label}: predict, {clients} clients", all_predict))
    same = predictions == reference and all(result[3] == reference for result in results)
    print(f"  {label}: predictions identical to river in-process: {'yes' if same else 'NO'}")
    return {"one": len(data) / seconds, "many": total / wall, "p99": statistics.quantiles(predict_t, n=100)[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--database-url", default="", help="a Postgres URL: also run the production topology")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers in the topology")
    parser.add_argument(
        "--embedded", action=argparse.BooleanOptionalAction, default=True, help="the embedded SQLite servers too"
    )
    args = parser.parse_args()

    data = stream(args.pairs)
    river_s, reference = river_floor(data)
    models = [f"http-{i}" for i in range(args.clients + 1)]
    print(f"# HTTP bench: {args.pairs} predict(id)+learn(id) pairs per client, keep-alive http.client clients")
    print(rate("river in-process (floor)", args.pairs, river_s * args.pairs))

    embedded = environment()
    for kind, label in (("run", "make run"), ("gunicorn", "gunicorn x1")) if args.embedded else ():
        token = prepare_elsewhere(embedded, models)  # fresh models: every run starts from the same state
        with server(embedded, kind) as url:
            run(f"embedded sqlite, {label}", url, token, models, data, reference, args.clients)

    if not args.database_url.startswith("postgres"):
        print("production topology: skipped (give --database-url postgres://... to run it)")
        return
    if shutil.which("nginx") is None:
        print("production topology: skipped (nginx is not installed: apt-get install -y nginx)")
        return
    production = environment(
        args.database_url,
        REDIS_URL="redis://127.0.0.1:6379/5",  # a database of its own: the bench's worker takes only its tasks
        TOPOLOGY_DIR=tempfile.mkdtemp(prefix="rhythmic-topology-"),
        CELERY_TASK_ALWAYS_EAGER="0",
    )
    token = prepare_elsewhere(production, models)
    with server(production, "gunicorn") as url:
        single = run("postgres, gunicorn x1", url, token, models, data, reference, args.clients)
    token = prepare_elsewhere(production, models)
    with server(production, "topology", workers=args.workers) as url:
        topology = run(f"topology (nginx, gunicorn x{args.workers})", url, token, models, data, reference, args.clients)
    print(f"ratio: topology {args.clients} clients / 1 client = {topology['many'] / topology['one']:.2f}x")
    print(f"ratio: topology {args.clients} clients / gunicorn x1 1 client = {topology['many'] / single['one']:.2f}x")


if __name__ == "__main__":
    main()
