"""The first predicts after a production switch, with and without a deploy's pre-load, in process. Usage:

    .venv/bin/python bench/deploy_switch.py [--tail 3000] [--requests 100] [--database-url postgres://...]

v2 learned ``--tail`` events (no checkpoint) before production went back to v1, so a process that loads v2 at
its first request replays that tail then. "promote" switches directly (before issue 16: every process loads the
new version lazily, at its next request); "deploy" is ``serving.deploy``: this process, a registered instance,
pre-loads v2 before the switch. Both print p50/p99 of the first ``--requests`` predicts after the switch.
"""

import argparse
import os
import socket
import time

from common import describe, environment, percentile, prepare, stream


def with_a_tail(name: str, data) -> None:
    """v2 registered, in production while it learns ``data``, then production back to v1."""
    import dill
    from common import new_model

    import serving
    from catalogue import services
    from catalogue.models import MLModel

    model = MLModel.objects.get(name=name)
    v1 = model.production_version
    obj = new_model()
    obj["LinearRegression"].l2 = 0.01  # other bytes than v1's
    v2, _ = services.model_version_register(model=model, data=dill.dumps(obj), validate=False)
    services.model_version_validate(version_id=v2.pk)
    services.deployment_promote(version=v2)
    for x, y in data:
        serving.learn(model=name, features=x, ground_truth=y)
    services.deployment_promote(version=v1)


def first_predicts(name: str, switch, data, n: int) -> list[float]:
    """In a freshly started process that served v1: ``switch()``, then the latencies of the first ``n`` predicts."""
    import serving
    from serving.process import ServingProcess, acting_as

    with acting_as(ServingProcess()):
        for x, _ in data[:50]:
            serving.predict(model=name, features=x)  # v1 loaded and warm, as in a process that served it
        switch()
        times = []
        for x, _ in data[:n]:
            started = time.perf_counter()
            serving.predict(model=name, features=x)
            times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tail", type=int, default=3000, help="events v2 learned since its last checkpoint")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    env = environment(args.database_url, RHYTHMIC_CHECKPOINT_EVERY="1000000000", RHYTHMIC_CHECKPOINT_SECONDS="1e9")
    names = ["switch-promote", "switch-deploy"]
    prepare(env, names)
    from django.utils import timezone

    from catalogue import services
    from catalogue.models import MLModel
    from serving import deploy
    from serving.models import Instance

    data = stream(max(args.tail, args.requests, 50))
    for name in names:
        with_a_tail(name, data[: args.tail])
    now = timezone.now()
    Instance.objects.filter(host=socket.gethostname(), pid=os.getpid()).delete()
    Instance.objects.create(
        key=f"{socket.gethostname()}:{os.getpid()}:bench", host=socket.gethostname(), pid=os.getpid(), kind="onesite",
        started_at=now, last_beat=now, runtime={"packages": {}},
    )  # fmt: skip

    def v2(name):
        return MLModel.objects.get(name=name).versions.get(number=2)

    promote = first_predicts(names[0], lambda: services.deployment_promote(version=v2(names[0])), data, args.requests)
    deployed = first_predicts(names[1], lambda: deploy.deploy(version=v2(names[1])), data, args.requests)
    task = deploy.list_for(model=MLModel.objects.get(name=names[1])).first()
    assert task.status == "succeeded", task.reason
    print(f"v2's tail: {args.tail} events; the first {args.requests} predicts after the switch")
    print(describe("promote (lazy load at request 1)", promote))
    print(describe("deploy (pre-loaded before switch)", deployed))
    print(f"first request: {promote[0] * 1000:.3f} ms lazy, {deployed[0] * 1000:.3f} ms pre-loaded")
    ratio = percentile(promote, 0.99) / percentile(deployed, 0.99)
    print(f"p99 ratio lazy / pre-loaded: {ratio:.1f}x")


if __name__ == "__main__":
    main()
