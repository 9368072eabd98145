"""chantilly 0.3.0 against Rhythmic on the same workload, both started by this script, with the ratio.

    .venv/bin/python bench/chantilly.py [--pairs 1000]

chantilly is installed from PyPI into its own virtualenv (var/chantilly-venv, once) with the same river and
dill as Rhythmic, and served the way its README says (`chantilly run`: Flask's threaded server, shelve
storage), through a launcher that sets ``river.metrics.Metric`` (gone from current river) before importing
it. Rhythmic is what `make run` starts (scripts/run.sh, the README's defaults: SQLite, DEBUG on), or
``--stack gunicorn``. Both run at once; one keep-alive client at a time sends predict(id) + learn(id) pairs,
in rounds that alternate the two servers (A, B, B, A...), through requests and through http.client. Server CPU
is user + sys of every process of each server (psutil). Then the floor (a trivial view on the same stack, river
in-process), predict without id, and every target of issue 15 with its baseline from this run (common.target).
Exits with status 3 and the reason when chantilly cannot be installed.
"""

import argparse
import subprocess
import sys
import tempfile
import time

from common import (
    ROOT,
    describe,
    environment,
    free_port,
    percentile,
    prepare_elsewhere,
    rate,
    river_floor,
    server_process,
    stop,
    stream,
    target,
    targets_heading,
)
from measure import CLIENTS, gets, load, median, pairs, predicts, server_cpu

VENV = ROOT / "var" / "chantilly-venv"
PINS = ["chantilly==0.3.0", "river==0.26.1", "dill==0.4.1"]
UNAVAILABLE = 3

LAUNCHER = """
import sys
import river.metrics
import river.metrics.base
river.metrics.Metric = river.metrics.base.Metric  # chantilly 0.3.0 names it; current river moved it
from chantilly import create_app
create_app().run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
"""


def ensure_venv() -> str:
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.read_text() == " ".join(PINS):
        return str(python)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    out = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(f"chantilly: skipped, pip could not install {' '.join(PINS)}:\n{out.stderr[-1500:]}")
        raise SystemExit(UNAVAILABLE)
    stamp.write_text(" ".join(PINS))
    return str(python)


def start_chantilly(python: str, workdir: str) -> tuple[subprocess.Popen, str]:
    import requests

    port = free_port()
    process = subprocess.Popen(
        [python, "-c", LAUNCHER, str(port)],
        cwd=workdir,  # Flask's instance folder (the shelve file) is beside the launcher's working directory
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"chantilly exited with status {process.returncode}")
        try:
            requests.get(f"{url}/api/init", timeout=5)
            return process, url
        except requests.RequestException:
            time.sleep(0.1)  # nothing to await: the port opens when Flask is ready
    stop(process)
    raise SystemExit("chantilly did not start within 60 s")


def setup_chantilly(url: str) -> None:
    import dill
    import requests
    from common import new_model

    requests.post(f"{url}/api/init", json={"flavor": "regression"}).raise_for_status()
    requests.post(f"{url}/api/model/bench", data=dill.dumps(new_model())).raise_for_status()


CHANTILLY = ("/api/predict", "/api/learn")
RHYTHMIC = ("/api/v1/models/bench/predict", "/api/v1/models/bench/learn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=500, help="pairs per round, per client, per server")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--stack", default="run", help="Rhythmic's server: run (what make run starts) or gunicorn")
    parser.add_argument("--database-url", default="", help="Rhythmic's database (default: embedded SQLite)")
    args = parser.parse_args()

    python = ensure_venv()
    data = stream(args.pairs)
    river_seconds, _ = river_floor(data)
    env = environment(args.database_url)
    if args.stack == "run":
        env.pop("DJANGO_DEBUG")  # the README's defaults, as a newcomer runs it
    token = prepare_elsewhere(env, ["bench"])
    where = "postgres" if args.database_url else "sqlite"
    label = f"Rhythmic ({'make run' if args.stack == 'run' else args.stack}, {where})"
    print(f"# chantilly 0.3.0 vs {label}: {args.pairs} predict(id)+learn(id) pairs x {args.rounds} rounds per client,")
    print(f"# one keep-alive client, the two servers interleaved; {load()}")
    print(rate("river in-process (floor)", args.pairs, river_seconds * args.pairs))

    results = {(side, name): Figures() for side in ("chantilly", "rhythmic") for name in CLIENTS}
    chantilly, chantilly_url = start_chantilly(python, tempfile.mkdtemp(prefix="chantilly-bench-"))
    try:
        setup_chantilly(chantilly_url)
        with server_process(env, args.stack) as (url, rhythmic):
            sides = {
                "chantilly": (chantilly.pid, CHANTILLY, {"model": "bench"}, {}, chantilly_url),
                "rhythmic": (rhythmic.pid, RHYTHMIC, {}, {"Authorization": f"Token {token}"}, url),
            }
            clients = {}
            for side, (_, routes, extra, headers, base) in sides.items():
                for name, client in CLIENTS.items():
                    clients[side, name] = client(base, headers)
                    pairs(clients[side, name], routes, extra, data[:20], -1_000_000)  # warm-up
            for number in range(args.rounds):
                for name in CLIENTS:
                    order = ["chantilly", "rhythmic"] if number % 2 == 0 else ["rhythmic", "chantilly"]
                    for side in order:
                        pid, routes, extra, _, _ = sides[side]
                        offset = (number * len(CLIENTS) + list(CLIENTS).index(name)) * len(data)
                        before = server_cpu(pid)
                        seconds, predict_times, learn_times = pairs(clients[side, name], routes, extra, data, offset)
                        results[side, name].add(seconds, server_cpu(pid) - before, predict_times, learn_times)
            before = server_cpu(rhythmic.pid)
            floor = gets(clients["rhythmic", "http.client"], "/livez", args.pairs * 2)
            floor_cpu = (server_cpu(rhythmic.pid) - before) / len(floor)  # seconds a trivial request
            without_id = [
                predicts(clients["rhythmic", "http.client"], RHYTHMIC[0], {}, data) for _ in range(args.rounds)
            ]
    finally:
        stop(chantilly)

    for name in CLIENTS:
        print(f"## client: {name}")
        for side, title in (("chantilly", "chantilly 0.3.0 (flask, shelve)"), ("rhythmic", label)):
            print(results[side, name].report(title, args.pairs))
        ratio = results["rhythmic", name].rate(args.pairs) / results["chantilly", name].rate(args.pairs)
        print(f"ratio ({name}): Rhythmic / chantilly = {ratio:.2f}x pairs/s")
    floor_p50 = percentile(floor, 0.5)
    without_id_rate = args.pairs / median(without_id)
    floor_rate = len(floor) / sum(floor)
    print(describe(f"{label}: trivial view /livez (floor)", floor), f"{floor_rate:8.0f} req/s")
    print(rate(f"{label}: predict without id", args.pairs, median(without_id), "req/s"))

    ours, theirs = results["rhythmic", "requests"], results["chantilly", "requests"]
    light, light_theirs = results["rhythmic", "http.client"], results["chantilly", "http.client"]
    targets_heading(load())
    target("pairs/s, requests >= 2x chantilly", ours.rate(args.pairs), theirs.rate(args.pairs), 2.0)
    target("pairs/s, http.client >= 4x chantilly", light.rate(args.pairs), light_theirs.rate(args.pairs), 4.0)
    target("server CPU ms/pair, requests <= 1/4", ours.cpu_ms(), theirs.cpu_ms(), 0.25, higher=False)
    target("server CPU ms/pair, http.client <= 1/4", light.cpu_ms(), light_theirs.cpu_ms(), 0.25, higher=False)
    for name, figures, chantillys in (("requests", ours, theirs), ("http.client", light, light_theirs)):
        # An absolute bound; chantilly's p99 on the same client is the baseline beside it.
        p99, baseline = (percentile(f.predict, 0.99) * 1000 for f in (figures, chantillys))
        target(f"predict p99 ms, {name} <= 5", p99, baseline, 5.0, higher=False, relative=False, unit="ms")
    predict_p50 = percentile(light.predict, 0.5) * 1000
    target("predict p50 / trivial view p50 <= 1.5", predict_p50, floor_p50 * 1000, 1.5, higher=False)
    # An absolute bound; /livez on the same server is the baseline beside it.
    target("predict without id req/s >= 1500", without_id_rate, floor_rate, 1500.0, relative=False, unit="req/s")
    # What the stack alone allows: a "pair" of two trivial views, no application work at all.
    floor_pairs, floor_pair_cpu = floor_rate / 2, floor_cpu * 2000
    print(f"## the floor of this stack: two trivial views (/livez) a pair, {label}, http.client")
    times = floor_pairs / light_theirs.rate(args.pairs)
    print(
        f"floor pairs/s {floor_pairs:.0f} = {times:.2f}x chantilly's (target 4x); "
        f"server CPU {floor_pair_cpu:.2f} ms a pair = {floor_pair_cpu / light_theirs.cpu_ms():.2f} of chantilly's "
        "(target 0.25)"
    )


class Figures:
    """One server and client's rounds: medians of the rates and of the CPU per pair, all the latencies."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.cpu: list[float] = []
        self.predict: list[float] = []
        self.learn: list[float] = []

    def add(self, seconds: float, cpu: float, predict_times: list[float], learn_times: list[float]) -> None:
        self.seconds.append(seconds)
        self.cpu.append(cpu / len(predict_times))
        self.predict += predict_times
        self.learn += learn_times

    def rate(self, count: int) -> float:
        return count / median(self.seconds)

    def cpu_ms(self) -> float:
        return median(self.cpu) * 1000

    def report(self, title: str, count: int) -> str:
        return "\n".join(
            [
                f"{title:<36} {self.rate(count):10.0f} pairs/s   server CPU {self.cpu_ms():6.2f} ms/pair",
                describe("  predict", self.predict),
                describe("  learn", self.learn),
            ]
        )


if __name__ == "__main__":
    main()
