"""chantilly 0.3.0 against Rhythmic on the same workload, both started by this script, with the ratio.

    .venv/bin/python bench/chantilly.py [--pairs 1000]

chantilly is installed from PyPI into its own virtualenv (var/chantilly-venv, once) with the same river and
dill as Rhythmic, and served the way its README says (`chantilly run`: Flask's threaded server, shelve
storage), through a launcher that sets ``river.metrics.Metric`` (gone from current river) before importing
it. Rhythmic runs embedded (SQLite) under gunicorn, 1 worker. One keep-alive client sends predict(id) +
learn(id) pairs to each. Exits with status 3 and the reason when chantilly cannot be installed.
"""

import argparse
import subprocess
import sys
import tempfile
import time

from common import ROOT, LightClient, describe, environment, free_port, prepare_elsewhere, rate, server, stop, stream

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


def pairs(client, routes: tuple[str, str], extra: dict, data, offset: int) -> tuple[float, list[float], list[float]]:
    """predict(id) + learn(id) per example through ``client`` (anything with ``post(path, body)``)."""
    predict_route, learn_route = routes
    predict_times, learn_times = [], []
    started = time.perf_counter()
    for i, (x, y) in enumerate(data, offset):
        t0 = time.perf_counter()
        client.post(predict_route, {**extra, "features": x, "id": i})
        t1 = time.perf_counter()
        client.post(learn_route, {**extra, "id": i, "ground_truth": y})
        learn_times.append(time.perf_counter() - t1)
        predict_times.append(t1 - t0)
    return time.perf_counter() - started, predict_times, learn_times


class RequestsClient:
    """The same calls through requests, the client most Python users have."""

    def __init__(self, url: str, headers: dict | None = None) -> None:
        import requests

        self.url = url
        self.session = requests.Session()
        self.session.headers.update(headers or {})

    def post(self, path: str, body: dict) -> dict:
        response = self.session.post(self.url + path, json=body)
        response.raise_for_status()
        return response.json()


CLIENTS = {"requests": RequestsClient, "http.client": LightClient}
CHANTILLY = ("/api/predict", "/api/learn")
RHYTHMIC = ("/api/v1/models/bench/predict", "/api/v1/models/bench/learn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--database-url", default="", help="Rhythmic's database (default: embedded SQLite)")
    args = parser.parse_args()

    python = ensure_venv()
    data = stream(args.pairs)
    print(f"# chantilly 0.3.0 vs Rhythmic: {args.pairs} predict(id)+learn(id) pairs, one keep-alive client")

    results: dict[tuple[str, str], tuple] = {}
    process, url = start_chantilly(python, tempfile.mkdtemp(prefix="chantilly-bench-"))
    try:
        setup_chantilly(url)
        for offset, (name, client) in enumerate(CLIENTS.items()):
            session = client(url)
            pairs(session, CHANTILLY, {"model": "bench"}, data[:20], -1000 * (offset + 1))  # warm-up
            results["chantilly", name] = pairs(session, CHANTILLY, {"model": "bench"}, data, offset * len(data))
    finally:
        stop(process)

    env = environment(args.database_url)
    token = prepare_elsewhere(env, ["bench"])
    where = "postgres" if args.database_url else "sqlite"
    with server(env, "gunicorn") as url:
        for offset, (name, client) in enumerate(CLIENTS.items()):
            session = client(url, {"Authorization": f"Token {token}"})
            pairs(session, RHYTHMIC, {}, data[:20], -1000 * (offset + 1))
            results["rhythmic", name] = pairs(session, RHYTHMIC, {}, data, offset * len(data))

    for name in CLIENTS:
        print(f"## client: {name}")
        for server_name, label in (
            ("chantilly", "chantilly 0.3.0 (flask, shelve)"),
            ("rhythmic", f"Rhythmic (gunicorn x1, {where})"),
        ):
            seconds, predict_times, learn_times = results[server_name, name]
            print(rate(label, args.pairs, seconds))
            print(describe(f"  {server_name} predict", predict_times))
            print(describe(f"  {server_name} learn", learn_times))
        ratio = results["chantilly", name][0] / results["rhythmic", name][0]
        print(f"ratio ({name}): Rhythmic / chantilly = {ratio:.2f}x pairs/s")


if __name__ == "__main__":
    main()
