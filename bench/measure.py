"""Helpers of the interleaved benches (stacks.py, make_run.py): rounds of pairs, server CPU, medians."""

import http.client
import statistics
import time

from common import LightClient


class RequestsClient:
    """The same calls through requests, the client most Python users have (chantilly's README uses it)."""

    def __init__(self, url: str, headers: dict | None = None) -> None:
        import requests

        self.url = url
        self.session = requests.Session()
        self.session.headers.update(headers or {})

    def post(self, path: str, body: dict) -> dict:
        response = self.session.post(self.url + path, json=body)
        response.raise_for_status()
        return response.json()

    def get(self, path: str) -> bytes:
        response = self.session.get(self.url + path)
        response.raise_for_status()
        return response.content


class HttpClient(LightClient):
    """LightClient that reconnects once when the server closed an idle keep-alive connection (as requests does)."""

    def call(self, method: str, path: str, body: str | None = None) -> bytes:
        try:
            return super().call(method, path, body)
        except (ConnectionError, http.client.HTTPException):
            self.connection.close()
            return super().call(method, path, body)

    def get(self, path: str) -> bytes:
        return self.call("GET", path)


CLIENTS = {"requests": RequestsClient, "http.client": HttpClient}


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of the process ``pid`` and of all its children (psutil)."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def pairs(client, routes: tuple[str, str], extra: dict, data, offset: int) -> tuple[float, list[float], list[float]]:
    """predict(id) + learn(id) per example, ids from ``offset`` on, through ``client``: (seconds, predict times, learn
    times). ``client`` is anything with ``post(path, body)``; ``extra`` goes into every body (chantilly's model)."""
    predict_route, learn_route = routes
    predict_times, learn_times = [], []
    started = time.perf_counter()
    for key, (x, y) in enumerate(data, offset):
        t0 = time.perf_counter()
        client.post(predict_route, {**extra, "features": x, "id": key})
        t1 = time.perf_counter()
        client.post(learn_route, {**extra, "id": key, "ground_truth": y})
        learn_times.append(time.perf_counter() - t1)
        predict_times.append(t1 - t0)
    return time.perf_counter() - started, predict_times, learn_times


def predicts(client, route: str, extra: dict, data) -> float:
    """Seconds for one predict without id per example (nothing stored)."""
    started = time.perf_counter()
    for x, _ in data:
        client.post(route, {**extra, "features": x})
    return time.perf_counter() - started


def gets(client, path: str, n: int) -> list[float]:
    """Seconds of each of ``n`` GETs of ``path``: a trivial view, the floor of a stack."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.get(path)
        times.append(time.perf_counter() - t0)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load() -> str:
    with open("/proc/loadavg") as handle:
        return "load average " + " ".join(handle.read().split()[:3])
