"""Many small models in one serving process: memory per model, a cold model's first predict, warm predicts, and
the same under an eviction budget of models (RHYTHMIC_MAX_LOADED_MODELS) and under one of memory
(RHYTHMIC_MAX_LOADED_MB). Usage:

    .venv/bin/python bench/many_models.py [--models 1000] [--budget 100] [--budget-mb 1] [--learns 20] [--tail 5]
        [--warm 5000] [--database-url postgres://postgres@127.0.0.1:5432/bench_many]

Each model is a StandardScaler | LinearRegression that learned --learns examples of TrumpApproval: a checkpoint
after the first learns - tail, then a tail of --tail log entries, so a cold load is checkpoint + replay. Each
phase runs in a process of its own (spawned: a fresh serving process), through the serving
core (no HTTP), and reports the growth of its RSS. Baselines in the same run: river's predict_one in process,
and one model predicted warm again and again. Issue 15's target has no numeric bound: its figures are printed as
informational rows (common.target, bound "-"), met when the predictions under eviction are those without.
"""

import argparse
import gc
import multiprocessing
import random
import time

from common import describe, environment, new_model, percentile, prepare, stream, target, targets_heading


def create_models(count: int, learns: int, tail: int, data) -> list[str]:
    """``count`` live models, each with a checkpoint after learns - tail examples and a log tail of ``tail``."""
    import dill
    from django.conf import settings
    from django.db import connections

    import serving
    from catalogue import services
    from catalogue.models import MLModel
    from serving.process import current
    from tests import factories

    names = [f"many-{i:05d}" for i in range(count)]
    MLModel.objects.filter(name__startswith="many-").delete()  # a database the bench used before
    artifact = dill.dumps(new_model())
    settings.RHYTHMIC_CHECKPOINT_EVERY = max(1, learns - tail)
    settings.RHYTHMIC_MAX_LOADED_MODELS = 50  # creating them must not hold them all in this process either
    for i, name in enumerate(names):
        model = factories.MLModelFactory(name=name, flavor="regression")
        version = factories.ModelVersionFactory(model=model, artifact=artifact)
        services.deployment_promote(version=version)
        examples = [data[(i + k) % len(data)] for k in range(learns)]
        items = [{"features": x, "ground_truth": y} for x, y in examples]
        for part in (items[: learns - tail], items[learns - tail :]):
            if part:
                serving.learn_many(model=name, items=part)
    current().reset()
    connections.close_all()
    return names


def rss() -> int:
    import psutil

    gc.collect()
    return psutil.Process().memory_info().rss


def timed_predicts(calls: list[tuple[str, dict]]) -> tuple[list[float], list]:
    import serving

    seconds, predictions = [], []
    for name, x in calls:
        t0 = time.perf_counter()
        predictions.append(serving.predict(model=name, features=x).prediction)
        seconds.append(time.perf_counter() - t0)
    return seconds, predictions


def phase_all_loaded(names: list[str], data, warm: int, queue) -> None:
    """No budget: every model's first predict (cold), then warm predicts on random models."""
    from django.conf import settings

    settings.RHYTHMIC_MAX_LOADED_MODELS = 0
    cold, first = timed_predicts([(name, data[i % len(data)][0]) for i, name in enumerate(names)])
    rng = random.Random(1)
    calls = [(rng.choice(names), data[i % len(data)][0]) for i in range(warm)]
    warm_seconds, warm_predictions = timed_predicts(calls)
    one, _ = timed_predicts([(names[0], data[i % len(data)][0]) for i in range(warm)])
    queue.put(
        {
            "cold": cold,
            "warm": warm_seconds,
            "one": one,
            "first": first,
            "calls": calls,
            "warm_predictions": warm_predictions,
        }
    )


def phase_memory(names: list[str], data, queue) -> None:
    """Every model loaded with tracemalloc on: the Python memory a loaded model keeps (RSS moves by pages and
    arenas, too coarse for a model of a few KiB), and RSS for the whole."""
    import tracemalloc

    from django.conf import settings

    settings.RHYTHMIC_MAX_LOADED_MODELS = 0
    timed_predicts([(names[0], data[0][0])])  # imports and the first connection, outside the count
    before = rss()
    tracemalloc.start()
    timed_predicts([(name, data[i % len(data)][0]) for i, name in enumerate(names[1:], 1)])
    gc.collect()
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    queue.put({"kept": kept / max(1, len(names) - 1), "rss": rss() - before})


def phase_budget(names: list[str], data, budget: int, budget_mb: float, calls: list, queue) -> None:
    """Under a budget (``budget`` models, ``budget_mb`` MiB; 0: off): every model once in order, then the warm
    phase's calls (mostly reloads when the budget is far below the number of models); predictions compared with
    the phase that evicted nothing."""
    from django.conf import settings

    from serving.process import current

    settings.RHYTHMIC_MAX_LOADED_MODELS = budget
    settings.RHYTHMIC_MAX_LOADED_MB = budget_mb
    before = rss()
    first_seconds, first = timed_predicts([(name, data[i % len(data)][0]) for i, name in enumerate(names)])
    seconds, predictions = timed_predicts(calls)
    grown = rss() - before
    queue.put(
        {
            "reload": first_seconds + seconds,
            "grown": grown,
            "first": first,
            "predictions": predictions,
            "evictions": current().replicas.evictions,
            "loaded": len(current().loaded()),
            "bytes": current().loaded_bytes(),
        }
    )


def phase_create(count: int, learns: int, tail: int, data, queue) -> None:
    queue.put(create_models(count, learns, tail, data))


def _phase(target, args, queue) -> None:
    """A phase in a fresh interpreter: Django set up from the environment prepare() left, then ``target``."""
    import django

    django.setup()
    target(*args, queue)


def in_child(target, *args, timeout: float = 600):
    """``target(*args, queue)`` in a new process (spawned: it shares no connection, thread or memory with this
    one), which never loads a replica: each phase starts as a fresh serving process. A phase that fails or
    hangs ends the bench with its status, never waits forever."""
    import queue as queues

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_phase, args=(target, args, results))
    process.start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = results.get(timeout=1)
            break
        except queues.Empty:
            if not process.is_alive():
                raise SystemExit(f"{target.__name__} failed with status {process.exitcode}") from None
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"{target.__name__} did not finish in {timeout:.0f} s") from None
    process.join()
    if process.exitcode:
        raise SystemExit(f"{target.__name__} failed with status {process.exitcode}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=100, help="RHYTHMIC_MAX_LOADED_MODELS of the eviction phase")
    parser.add_argument(
        "--budget-mb", type=float, default=1.0, help="RHYTHMIC_MAX_LOADED_MB (MiB) of the memory-budget phase"
    )
    parser.add_argument("--learns", type=int, default=20, help="examples each model learned")
    parser.add_argument("--tail", type=int, default=5, help="of which after its checkpoint (replayed on load)")
    parser.add_argument("--warm", type=int, default=5000, help="predicts on random models")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    data = stream(max(args.learns + args.models, 1000))
    env = environment(args.database_url, RHYTHMIC_LOG_LEVEL="ERROR")
    prepare(env, [])
    where = "postgres" if args.database_url else "sqlite (embedded)"
    print(
        f"# many models: {args.models} StandardScaler | LinearRegression, {args.learns} learns each "
        f"({args.tail} after the checkpoint), one process, {where}"
    )
    started = time.perf_counter()
    names = in_child(phase_create, args.models, args.learns, min(args.tail, args.learns), data)
    print(f"created and trained in {time.perf_counter() - started:.1f} s")

    import dill

    river = new_model()
    for x, y in data[: args.learns]:
        river.learn_one(x, y)
    state_size = len(dill.dumps(river))
    river_seconds = []
    for x, _ in data[: args.warm]:
        t0 = time.perf_counter()
        river.predict_one(x)
        river_seconds.append(time.perf_counter() - t0)

    memory = in_child(phase_memory, names, data)
    loaded = in_child(phase_all_loaded, names, data, args.warm)
    budget = min(args.budget, args.models)
    evicting = in_child(phase_budget, names, data, budget, 0, loaded["calls"])
    measured = in_child(phase_budget, names, data, 0, args.budget_mb, loaded["calls"])

    print(describe("river predict_one in-process (floor)", river_seconds))
    print(describe("one model, warm (baseline)", loaded["one"]))
    print(describe(f"{args.models} models, warm, random", loaded["warm"]))
    print(describe("cold model, first predict", loaded["cold"]))
    cold_p50, one_p50 = percentile(loaded["cold"], 0.5), percentile(loaded["one"], 0.5)
    print(f"{'cold first predict / warm, p50':<36} {cold_p50 / one_p50:10.1f}x")
    print(
        f"{'memory per loaded model':<36} {memory['kept'] / 1024:10.1f} KiB "
        f"(Python heap, tracemalloc; its state pickled: {state_size} bytes)"
    )
    print(
        f"{f'RSS growth, {args.models} models loaded':<36} {memory['rss'] / 2**20:10.1f} MiB "
        f"({memory['rss'] / args.models / 1024:.1f} KiB each)"
    )
    print(describe(f"budget {budget}: predict (mostly reloads)", evicting["reload"]))
    print(
        f"{f'budget {budget}: RSS growth':<36} {evicting['grown'] / 2**20:10.1f} MiB "
        f"({evicting['loaded']} loaded at the end, {evicting['evictions']} evictions)"
    )
    print(f"predictions identical with and without eviction: {'yes' if identical(evicting, loaded) else 'NO'}")
    mb = f"budget {args.budget_mb:g} MiB"
    print(describe(f"{mb}: predict", measured["reload"]))
    print(
        f"{f'{mb}: RSS growth':<36} {measured['grown'] / 2**20:10.1f} MiB "
        f"({measured['loaded']} loaded at the end, measured {measured['bytes'] / 2**20:.3f} MiB; "
        f"{measured['evictions']} evictions)"
    )
    print(f"{mb}: predictions identical with and without eviction: {'yes' if identical(measured, loaded) else 'NO'}")

    targets_heading(f"{args.models} models, {where}")
    same = identical(evicting, loaded) and identical(measured, loaded)
    target("many models: RSS per model KiB", memory["rss"] / args.models / 1024, None, None, met=same)
    target("many models: Python heap per loaded model KiB", memory["kept"] / 1024, None, None, met=same)
    one_p99 = percentile(loaded["one"], 0.99) * 1000
    target("many models: cold first predict p50 ms / one warm", cold_p50 * 1000, one_p50 * 1000, None, met=same)
    warm_p99 = percentile(loaded["warm"], 0.99) * 1000
    target("many models: warm predict p99 ms / one warm", warm_p99, one_p99, None, met=same)
    for title, phase in ((f"budget {budget} models", evicting), (mb, measured)):
        p99 = percentile(phase["reload"], 0.99) * 1000
        target(f"many models: {title}, predict p99 ms / warm", p99, warm_p99, None, met=identical(phase, loaded))


def identical(evicting: dict, loaded: dict) -> bool:
    """The predictions of a phase under a budget are those of the phase that loaded every model."""
    return evicting["first"] == loaded["first"] and evicting["predictions"] == loaded["warm_predictions"]


if __name__ == "__main__":
    main()
