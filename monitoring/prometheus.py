"""Prometheus export: counters fed by the serving core's observers, the latency histogram read from the
serving process's route timings (the one record of each call), and gauges read at scrape time from the
serving core and the database (the same in every process).

Several server processes (gunicorn workers, daphne processes on one host): set PROMETHEUS_MULTIPROC_DIR to
one empty directory shared by all of them, wiped at each start; prometheus_client then keeps the counters
and histograms in files there and any process's /metrics sums them over all processes. Files are the only
way to reach the other processes' figures, so in that mode the request observer also writes each answered
call's duration to a multiprocess histogram (the timings alone cannot be summed across processes).
"""

import logging
import os
from typing import Any

from django.db.models import Count
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

import serving
from catalogue.errors import RhythmicError
from catalogue.models import MLModel
from monitoring import selectors
from serving import deploy, instances
from serving.inference import label_coverage
from serving.models import PendingPrediction
from serving.process import current
from serving.timings import LATENCY_BUCKETS

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Read when this module is imported, as prometheus_client does: whether counters are kept in shared files.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
LATENCY_NAME = "rhythmic_request_duration_seconds"
LATENCY_HELP = "Duration of serving-core calls (predict, learn, batches), per model and route"

PREDICTIONS = Counter("rhythmic_predictions", "Predictions made, per model and version", ["model", "version"])
LEARNS = Counter("rhythmic_learns", "Ground truths learned, per model and version", ["model", "version"])
ERRORS = Counter(
    "rhythmic_errors", "Refused or failed serving calls, per model, route and error code", ["model", "route", "code"]
)
#: Multiprocess mode only (see above); in the default registry the histogram comes from the timings.
LATENCY = Histogram(LATENCY_NAME, LATENCY_HELP, ["model", "route"], buckets=LATENCY_BUCKETS, registry=None)


#: PREDICTIONS' child per (model, version): ``labels()`` takes a lock and checks its labels on every call, which
#: costs more than the count (once per prediction, 500 per WebSocket frame). Children are never removed.
_predicted: dict[tuple[str, int], Any] = {}


def on_predict(*, model, predicted, **_) -> None:
    per_version: dict[int, int] = {}
    for item in predicted:
        per_version[item.version] = per_version.get(item.version, 0) + 1
    for version, count in per_version.items():
        counter = _predicted.get((model, version))
        if counter is None:
            counter = _predicted[model, version] = PREDICTIONS.labels(model, str(version))
        counter.inc(count)


def on_learn(*, model, learned, **_) -> None:
    per_version: dict[int, int] = {}
    for item in learned:
        per_version[item.version] = per_version.get(item.version, 0) + 1
    for version, count in per_version.items():
        LEARNS.labels(model, str(version)).inc(count)


def on_request(*, model, route, duration_ns, error) -> None:
    if error is not None:  # a refusal is no answer: counted by code, not as latency
        ERRORS.labels(model, route, error).inc()
    elif MULTIPROCESS:
        LATENCY.labels(model, route).observe(duration_ns / 1e9)


class LatencyCollector:
    """``rhythmic_request_duration_seconds`` as this process's route timings count it (answered calls only)."""

    def describe(self):
        yield HistogramMetricFamily(LATENCY_NAME, LATENCY_HELP, labels=["model", "route"])

    def collect(self):
        family = HistogramMetricFamily(LATENCY_NAME, LATENCY_HELP, labels=["model", "route"])
        bounds = [*(str(float(bound)) for bound in LATENCY_BUCKETS), "+Inf"]
        for model, route, cumulative, total in current().timings.histograms():
            family.add_metric([model, route], list(zip(bounds, cumulative, strict=True)), total)
        yield family


class ServingCollector:
    """Gauges read at scrape time: the same figures in every process, so they are never summed."""

    def describe(self):
        # The names alone: registering must not query the database (apps are not ready yet).
        yield from self._families().values()

    def collect(self):
        families = self._families()
        try:
            self._serving(families)
        except Exception:  # the database is down: the counters are still worth scraping
            logger.exception("could not read the serving gauges for /metrics")
        yield from families.values()

    @staticmethod
    def _families() -> dict:
        return {
            "metric": GaugeMetricFamily(
                "rhythmic_online_metric",
                "Online metric of a version (same in every replica)",
                labels=["model", "version", "metric"],
            ),
            "n_learned": GaugeMetricFamily(
                "rhythmic_version_learned", "Learn-log entries folded into a version", labels=["model", "version"]
            ),
            "seq": GaugeMetricFamily("rhythmic_learn_seq", "Head of the model's learn log", labels=["model"]),
            "loaded_bytes": GaugeMetricFamily(
                "rhythmic_loaded_model_bytes",
                "Bytes of the replicas the scraped process holds, as pympler measures them when one loads and when it "
                "checkpoints: measured only while RHYTHMIC_MAX_LOADED_MB is set (0 otherwise)",
            ),
            "lag": GaugeMetricFamily(
                "rhythmic_learn_lag",
                "Learn-log entries the scraped process has not applied yet (learn_seq - applied_seq)",
                labels=["model"],
            ),
            "drifts": CounterMetricFamily(
                "rhythmic_drifts", "Drifts detected in a version's error stream", labels=["model", "version"]
            ),
            "alerts": GaugeMetricFamily("rhythmic_alerts_open", "Open alerts, by state", labels=["model", "state"]),
            "labelled": CounterMetricFamily(
                "rhythmic_pending_labelled", "Predictions made with an id that got their ground truth", labels=["model"]
            ),
            "expired": CounterMetricFamily(
                "rhythmic_pending_expired",
                "Predictions made with an id that expired unlabelled (RHYTHMIC_PENDING_TTL, RHYTHMIC_MAX_PENDING)",
                labels=["model"],
            ),
            "coverage": GaugeMetricFamily(
                "rhythmic_label_coverage",
                "Share of the predictions made with an id, labelled or expired, that got their ground truth",
                labels=["model"],
            ),
            "pending": GaugeMetricFamily(
                "rhythmic_pending", "Predictions made with an id waiting for their ground truth", labels=["model"]
            ),
            "instances": GaugeMetricFamily(
                "rhythmic_instances",
                'Registered server processes, per location ("": serving every location) and status',
                labels=["location", "status"],
            ),
            "instance_lag": GaugeMetricFamily(
                "rhythmic_instance_model_lag",
                "Learn-log entries a live instance had not applied at its last beat, per loaded model",
                labels=["instance", "model"],
            ),
            "deployments": GaugeMetricFamily(
                "rhythmic_deployments", "Deploys (deployment tasks) by status, from their rows", labels=["status"]
            ),
        }

    def _serving(self, families: dict) -> None:
        rows = MLModel.objects.values_list("name", "learn_seq", "pending_labelled", "pending_expired")
        heads = {name: learn_seq for name, learn_seq, _, _ in rows}
        for name, _, labelled, expired in rows:
            families["labelled"].add_metric([name], labelled)
            families["expired"].add_metric([name], expired)
            coverage = label_coverage(labelled=labelled, expired=expired)["coverage"]
            if coverage is not None:
                families["coverage"].add_metric([name], coverage)
        for name, waiting in (
            PendingPrediction.objects.values_list("model__name").annotate(n=Count("pk")).values_list("model__name", "n")
        ):
            families["pending"].add_metric([name], waiting)
        process = current()
        families["loaded_bytes"].add_metric([], process.loaded_bytes())
        for name, learn_seq in heads.items():
            families["seq"].add_metric([name], learn_seq)
            lag = process.lag(model=name, head=learn_seq)
            if lag is not None:
                families["lag"].add_metric([name], lag)
        live: set[tuple[str, int]] = set()
        for name, loaded in process.loaded().items():
            if name not in heads:
                continue
            for number in loaded.versions:
                try:
                    values = serving.metrics(model=name, version=number)  # catches up first: same everywhere
                except RhythmicError:
                    continue
                live.add((name, number))
                _add_metrics(families, name, number, values["metrics"], values["n_learned"])
        # Models this process does not serve: their latest snapshot (RHYTHMIC_SNAPSHOT_SECONDS old at most
        # while they learn), rather than loading every model of every location here.
        for snapshot in selectors.snapshot_latest_per_production_version():
            if (snapshot.model.name, snapshot.version.number) not in live:
                _add_metrics(
                    families, snapshot.model.name, snapshot.version.number, snapshot.metrics, snapshot.n_learned
                )
        for name, number, count in selectors.drift_counts():
            families["drifts"].add_metric([name, str(number)], count)
        for name, state, count in selectors.alert_open_counts():
            families["alerts"].add_metric([name, state], count)
        _instances(families)
        for status, count in deploy.status_counts().items():
            families["deployments"].add_metric([status], count)


def _instances(families: dict) -> None:
    """From the instances' rows, so every process's /metrics shows every instance (a status at 0 is shown too)."""
    counts: dict[tuple[str, str], int] = {}
    for instance in instances.instance_list():
        status = instances.status_of(instance)
        for known in instances.STATUSES:
            counts.setdefault((instance.location, known), 0)
        counts[instance.location, status] += 1
        if status == instances.LIVE:
            for model, loaded in sorted(instance.models.items()):
                families["instance_lag"].add_metric([instance.key, model], loaded.get("lag", 0))
    for (location, status), count in sorted(counts.items()):
        families["instances"].add_metric([location, status], count)


def _add_metrics(families: dict, model: str, version: int, metrics: dict, n_learned: int) -> None:
    for metric, value in metrics.items():
        if isinstance(value, list):  # a forecaster's metric: one series per step ahead, named MAE+1, MAE+2...
            for step, step_value in enumerate(value, start=1):
                if step_value is not None:
                    families["metric"].add_metric([model, str(version), f"{metric}+{step}"], step_value)
        elif value is not None:
            families["metric"].add_metric([model, str(version), metric], value)
    families["n_learned"].add_metric([model, str(version)], n_learned)


_serving_collector = ServingCollector()
_latency_collector = LatencyCollector()


def register() -> None:
    """Add the scrape-time collectors to the default registry, once per process (MonitoringConfig.ready)."""
    REGISTRY.register(_serving_collector)
    REGISTRY.register(_latency_collector)


def registry(multiproc_dir: str | None = None) -> CollectorRegistry:
    """The registry to expose: with a multiprocess directory, the counters of every process summed from it."""
    if multiproc_dir:
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=multiproc_dir)
        combined.register(_serving_collector)
        return combined
    return REGISTRY


def render(multiproc_dir: str | None = None) -> bytes:
    """The Prometheus text exposition of this deployment, as GET /metrics serves it."""
    if multiproc_dir is None:
        multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
    return generate_latest(registry(multiproc_dir))
