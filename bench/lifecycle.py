"""What challengers and a canary cost the serving core: predict(id) + learn(id) pairs and learns with features,
in process, with 0, 1 and 3 challengers and with a 50% canary. Usage:

    .venv/bin/python bench/lifecycle.py [--pairs 2000] [--database-url postgres://postgres@127.0.0.1:5432/bench]

``--plain`` measures only the model without challengers (it runs on checkouts from before challengers too).
"""

import argparse
import time

from common import core_pairs, environment, prepare, rate, river_floor, stream


def learns_with_features(model: str, data) -> float:
    import serving

    started = time.perf_counter()
    for x, y in data:
        serving.learn(model=model, features=x, ground_truth=y)
    return time.perf_counter() - started


def beside(name: str, *, challengers: int = 0, canary: float = 0) -> None:
    """Give ``name`` that many challengers (other river models) and a canary of that share."""
    import dill
    from river import linear_model, preprocessing

    from catalogue import services
    from catalogue.models import MLModel

    model = MLModel.objects.get(name=name)
    for i in range(challengers + (1 if canary else 0)):
        obj = preprocessing.StandardScaler() | linear_model.LinearRegression(l2=0.001 * (i + 1))
        version, _ = services.model_version_register(model=model, data=dill.dumps(obj), validate=False)
        services.model_version_validate(version_id=version.pk)
        if i < challengers:
            services.challenger_add(version=version)
        else:
            services.canary_set(version=version, percent=canary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--plain", action="store_true", help="only the model without challengers")
    args = parser.parse_args()

    cases = {"no challengers": {}}
    if not args.plain:
        cases.update(
            {"1 challenger": {"challengers": 1}, "3 challengers": {"challengers": 3}, "canary 50%": {"canary": 50}}
        )
    env = environment(args.database_url)
    data = stream(args.pairs)
    prepare(env, [f"lifecycle-{i}" for i in range(len(cases))])
    per_pair, _ = river_floor(data)
    print(rate("river in-process", 1, per_pair))
    for i, (label, options) in enumerate(cases.items()):
        name = f"lifecycle-{i}"
        if options:
            beside(name, **options)
        core_pairs(name, data[:50])  # load the replicas
        print(rate(f"{label}: predict(id) + learn(id)", len(data), core_pairs(name, data)))
        print(rate(f"{label}: learn with features", len(data), learns_with_features(name, data), "learns/s"))


if __name__ == "__main__":
    main()
