"""Server CPU of one predict(id) + learn(id) pair inside the WSGI application, without any HTTP server.

    .venv/bin/python bench/request_path.py [--pairs 200] [--rounds 10] [--database-url postgres://...]

It calls the WSGI application in this process, so the figure is what Django and Rhythmic cost per pair, apart
from the server in front (bench/stacks.py measures those). Rounds alternate, in one process on one database:
- Django's own WSGIHandler (every middleware for every call: the baseline);
- rhythmic.wsgi.application (token calls on the short chain, rhythmic/handlers.py), with DEBUG as `make run` has
  it (on: Django keeps each SQL statement) and off (production);
- the trivial view /livez, the floor of a request;
- the serving core alone (serving.predict + serving.learn called directly): the rest is Django's and DRF's.
CPU is this process's (time.process_time); medians of the rounds.
"""

import argparse
import io
import json
import statistics
import time

from common import environment, prepare, stream


def caller(application, token: str):
    def call(method: str, path: str, body: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(data),
            "CONTENT_LENGTH": str(len(data)),
            "CONTENT_TYPE": "application/json",
            "HTTP_AUTHORIZATION": f"Token {token}",
        }
        statuses = []
        result = application(environ, lambda status, headers, exc_info=None: statuses.append(status))
        try:
            b"".join(result)
        finally:
            result.close()
        if not statuses[0].startswith("2"):
            raise SystemExit(f"{method} {path} answered {statuses[0]}")

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200, help="pairs per round and per case")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    env = environment(args.database_url)
    env.pop("DJANGO_DEBUG")  # on, as `make run` has it; the cases below switch it
    token = prepare(env, ["bench"])
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    from rhythmic.wsgi import application

    cases = {
        "Django's WSGIHandler, DEBUG on (baseline)": (caller(WSGIHandler(), token), True),
        "rhythmic.wsgi, DEBUG on (make run)": (caller(application, token), True),
        "rhythmic.wsgi, DEBUG off (production)": (caller(application, token), False),
    }
    data = stream(args.pairs)
    key = 0

    def pairs(call) -> float:
        nonlocal key
        started = time.process_time()
        for x, y in data:
            key += 1
            call("POST", "/api/v1/models/bench/predict", {"features": x, "id": key})
            call("POST", "/api/v1/models/bench/learn", {"id": key, "ground_truth": y})
        return (time.process_time() - started) / len(data)

    pairs(cases["rhythmic.wsgi, DEBUG on (make run)"][0])  # warm-up: replica, token cache, connection

    def core() -> float:
        """The serving core alone: the same pairs called in this thread, with no request, view or middleware."""
        import serving

        nonlocal key
        started = time.process_time()
        for x, y in data:
            key += 1
            serving.predict(model="bench", features=x, id=key)
            serving.learn(model="bench", id=key, ground_truth=y)
        return (time.process_time() - started) / len(data)

    cpu: dict[str, list[float]] = {name: [] for name in cases}
    floor: list[float] = []
    alone: list[float] = []
    for round_ in range(args.rounds):
        names = list(cases) if round_ % 2 == 0 else list(reversed(cases))
        for name in names:
            call, debug = cases[name]
            settings.DEBUG = debug
            cpu[name].append(pairs(call))
        settings.DEBUG = False
        alone.append(core())
        livez = caller(application, token)
        started = time.process_time()
        for _ in range(len(data)):
            livez("GET", "/livez")
        floor.append((time.process_time() - started) / len(data))

    print(f"# request path in-process: {args.pairs} predict(id)+learn(id) pairs x {args.rounds} rounds per case")
    baseline = statistics.median(cpu["Django's WSGIHandler, DEBUG on (baseline)"])
    for name, values in cpu.items():
        median = statistics.median(values)
        print(f"{name:<44} {median * 1000:7.3f} ms CPU / pair   {median / baseline:5.2f}x baseline")
    print(f"{'trivial view /livez (floor), per request':<44} {statistics.median(floor) * 1000:7.3f} ms CPU")
    core_ms = statistics.median(alone) * 1000
    production = statistics.median(cpu["rhythmic.wsgi, DEBUG off (production)"]) * 1000
    print(f"{'the serving core alone (no request), DEBUG off':<44} {core_ms:7.3f} ms CPU / pair")
    print(
        f"split of a production pair: serving core {core_ms:.3f} ms ({core_ms / production:.0%}), "
        f"Django + DRF around it {production - core_ms:.3f} ms ({1 - core_ms / production:.0%})"
    )


if __name__ == "__main__":
    main()
