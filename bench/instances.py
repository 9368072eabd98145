"""What a production instance's heartbeat costs: one beat (reconnect, read the heads of the loaded models, one
UPDATE, close) with 1, 10 and 100 models loaded, against the floor of any beat on a connection of its own
(connect, SELECT 1, close), in the same run. Usage:

    .venv/bin/python bench/instances.py [--beats 200] [--database-url postgres://postgres@127.0.0.1:5432/bench]
"""

import argparse
import time

from common import describe, environment, prepare


def timed(function, n: int) -> list[float]:
    found = []
    for _ in range(n):
        started = time.perf_counter()
        function()
        found.append(time.perf_counter() - started)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beats", type=int, default=200)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    names = [f"beat-{i}" for i in range(100)]
    prepare(environment(args.database_url), names)

    from django.db import connection

    import serving
    from serving import instances
    from serving.models import Instance

    def floor() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        connection.close()

    print(f"database: {connection.vendor}, {args.beats} beats each")
    floor_times = timed(floor, args.beats)
    print(describe("floor: connect, SELECT 1, close", floor_times))
    floor_median = sorted(floor_times)[len(floor_times) // 2]
    loaded = 0
    for count in (1, 10, 100):
        for name in names[loaded:count]:
            serving.predict(model=name, features={"x": 1.0})
        loaded = count
        runtime = instances.Runtime(Instance.Kind.WSGI)
        runtime._beat()  # registers the row
        beats = timed(runtime._beat, args.beats)
        median = sorted(beats)[len(beats) // 2]
        print(describe(f"beat, {count} models loaded", beats))
        print(
            f"  ratio to the floor (median): {median / floor_median:.2f}x; share of a 5 s heartbeat: {median / 5:.4%}"
        )
        Instance.objects.filter(key=runtime.instance.key).delete()


if __name__ == "__main__":
    main()
