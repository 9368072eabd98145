"""GET /metrics: Prometheus text with counters from the serving core, gauges read at scrape time, token access."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dill
import pytest
from django.conf import settings as django_settings
from prometheus_client.parser import text_string_to_metric_families
from river import linear_model, preprocessing

import serving
from catalogue import services
from catalogue.errors import Conflict, InvalidInput, NotFound
from monitoring import prometheus, worker
from monitoring import services as monitoring_services
from serving.process import ServingProcess, acting_as, current
from tests import factories

pytestmark = pytest.mark.django_db

DASHBOARD = Path(django_settings.BASE_DIR) / "deploy" / "grafana" / "dashboards" / "rhythmic.json"


def live_model(name):
    model = factories.MLModelFactory(name=name)
    obj = preprocessing.StandardScaler() | linear_model.LinearRegression()
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj))
    services.deployment_promote(version=version)
    return model


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of a Prometheus text exposition."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, **headers) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


def value(samples, name, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_are_open_to_prometheus_without_a_login(anon_client):
    live_model("open")
    serving.predict(model="open", features={"x": 1.0})
    samples = scrape(anon_client)
    assert value(samples, "rhythmic_predictions_total", model="open", version="1") == 1


def test_predictions_and_learns_counters_increase_per_model_and_version(anon_client):
    # Given a live model and the counters as scraped now
    live_model("counted")
    before = scrape(anon_client)
    # When it predicts twice and learns three items
    serving.predict(model="counted", features={"x": 1.0})
    serving.predict(model="counted", features={"x": 2.0})
    serving.learn_many(model="counted", items=[{"features": {"x": i}, "ground_truth": i} for i in range(3)])
    after = scrape(anon_client)
    # Then the counters moved by that much
    for name, moved in (("rhythmic_predictions_total", 2), ("rhythmic_learns_total", 3)):
        delta = value(after, name, model="counted", version="1") - value(before, name, model="counted", version="1")
        assert delta == moved, name


def test_latency_histograms_count_each_route(anon_client):
    live_model("timed")
    serving.predict(model="timed", features={"x": 1.0})
    serving.learn(model="timed", features={"x": 1.0}, ground_truth=1.0)
    samples = scrape(anon_client)
    for route in ("predict", "learn"):
        assert value(samples, "rhythmic_request_duration_seconds_count", model="timed", route=route) == 1
        infinite = value(samples, "rhythmic_request_duration_seconds_bucket", model="timed", route=route, le="+Inf")
        assert infinite == 1


def test_the_latency_histogram_is_read_from_the_route_timings(anon_client):
    # Given three answered predictions, as the process's route timings recorded them
    live_model("once")
    for x in (1.0, 2.0, 3.0):
        serving.predict(model="once", features={"x": x})
    stats = serving.route_stats(model="once")["predict"]
    # When Prometheus scrapes
    samples = scrape(anon_client)
    # Then the histogram holds the same calls: count, total duration, cumulative buckets up to +Inf
    labels = {"model": "once", "route": "predict"}
    assert value(samples, "rhythmic_request_duration_seconds_count", **labels) == stats["n_calls"] == 3
    total = value(samples, "rhythmic_request_duration_seconds_sum", **labels)
    assert total == pytest.approx(stats["mean_duration"] * 3 / 1e9, rel=1e-6, abs=3e-9)
    bounds = [str(float(bound)) for bound in prometheus.LATENCY_BUCKETS] + ["+Inf"]
    counts = [value(samples, "rhythmic_request_duration_seconds_bucket", **labels, le=le) for le in bounds]
    assert counts == sorted(counts) and counts[-1] == 3
    # And a process starting afresh starts its histogram afresh, as prometheus_client's would
    current().reset()
    assert value(scrape(anon_client), "rhythmic_request_duration_seconds_count", **labels) == 0


def test_refused_calls_count_as_errors_by_code(anon_client):
    live_model("refused")
    with pytest.raises(InvalidInput):
        serving.predict(model="refused", features="not an object")
    samples = scrape(anon_client)
    assert value(samples, "rhythmic_errors_total", model="refused", route="predict", code="invalid") == 1


def test_refused_calls_are_errors_not_latency_nor_predictions(anon_client):
    # Given a model without a production version
    factories.MLModelFactory(name="unserved")
    # When a predict is refused with 409
    with pytest.raises(Conflict):
        serving.predict(model="unserved", features={"x": 1.0})
    samples = scrape(anon_client)
    # Then it counts as an error by code, and in no latency histogram nor prediction counter
    assert value(samples, "rhythmic_errors_total", model="unserved", route="predict", code="no_production") == 1
    assert not [
        key for key in samples if key[0].startswith("rhythmic_request_duration") and ("model", "unserved") in key[1]
    ]
    assert not [key for key in samples if key[0].startswith("rhythmic_predictions") and ("model", "unserved") in key[1]]


def test_calls_to_unknown_models_count_under_one_empty_name_not_one_series_per_name(anon_client):
    unknown = {"model": "", "route": "predict", "code": "not_found"}
    before = value(scrape(anon_client), "rhythmic_errors_total", **unknown)  # counters live as long as the process
    for name in ("nope-1", "nope-2", "nope-3"):
        with pytest.raises(NotFound):
            serving.predict(model=name, features={"x": 1.0})
    samples = scrape(anon_client)
    assert value(samples, "rhythmic_errors_total", **unknown) == before + 3
    assert not [key for key in samples if any(label.startswith("nope") for _, label in key[1])]
    assert serving.route_stats(model="nope-1") == {}


def test_online_metrics_are_gauges_equal_to_the_serving_cores(anon_client):
    # Given a model that learned two ground truths
    live_model("scored")
    serving.learn(model="scored", features={"x": 1.0}, ground_truth=2.0)
    serving.learn(model="scored", features={"x": 1.0}, ground_truth=4.0)
    live = serving.metrics(model="scored")
    # When Prometheus scrapes
    samples = scrape(anon_client)
    # Then every online metric of the version is exported with the core's value
    for metric, expected in live["metrics"].items():
        assert value(samples, "rhythmic_online_metric", model="scored", version="1", metric=metric) == pytest.approx(
            expected
        )
    assert value(samples, "rhythmic_version_learned", model="scored", version="1") == 2
    assert value(samples, "rhythmic_learn_seq", model="scored") == 2


@pytest.mark.django_db(transaction=True)  # monitoring's worker writes the snapshot
def test_a_model_this_process_does_not_serve_reports_its_latest_snapshot(anon_client):
    live_model("elsewhere")
    serving.learn(model="elsewhere", features={"x": 1.0}, ground_truth=3.0)  # snapshotted on learn
    assert worker.drain()
    current().forget()  # as seen from a process that never loaded it
    samples = scrape(anon_client)
    assert value(samples, "rhythmic_online_metric", model="elsewhere", version="1", metric="MAE") == 3.0
    assert ("rhythmic_learn_lag", frozenset({"model": "elsewhere"}.items())) not in samples


def test_lag_counts_the_log_entries_this_process_has_not_applied(anon_client, monkeypatch):
    # Given this process serves a model
    live_model("lagging")
    serving.predict(model="lagging", features={"x": 1.0})
    # When another process learns three times
    with acting_as(ServingProcess()):
        for truth in (1.0, 2.0, 3.0):
            serving.learn(model="lagging", features={"x": 1.0}, ground_truth=truth)
    # Then this process lags three entries behind the log
    samples = scrape(anon_client)
    assert value(samples, "rhythmic_learn_lag", model="lagging") == 3


def test_loaded_model_bytes_is_the_measured_size_of_this_processs_replicas(anon_client, settings):
    # Given a memory budget and two models loaded here
    settings.RHYTHMIC_MAX_LOADED_MB = 1024
    for name in ("small", "large"):
        live_model(name)
        serving.predict(model=name, features={"x": 1.0})
    sizes = [replica.size for entry in current().replicas.loaded().values() for replica in entry.replicas.values()]
    assert len(sizes) == 2 and all(sizes)
    # When Prometheus scrapes
    samples = scrape(anon_client)
    # Then the gauge is their total
    assert samples[("rhythmic_loaded_model_bytes", frozenset())] == sum(sizes)


def test_loaded_model_bytes_is_zero_without_a_memory_budget(anon_client, settings):
    settings.RHYTHMIC_MAX_LOADED_MB = 0
    live_model("unmeasured")
    serving.predict(model="unmeasured", features={"x": 1.0})
    samples = scrape(anon_client)
    assert samples[("rhythmic_loaded_model_bytes", frozenset())] == 0


def test_drift_points_are_counted_per_version(anon_client):
    model = live_model("drifting")
    version = model.versions.get()
    for seq in (10, 20):
        monitoring_services.drift_point_record(model_id=model.pk, version_id=version.pk, seq=seq, n_drifts=1)
    samples = scrape(anon_client)
    assert value(samples, "rhythmic_drifts_total", model="drifting", version="1") == 2


def test_with_a_token_metrics_refuse_a_scrape_without_it(anon_client, settings):
    settings.RHYTHMIC_METRICS_TOKEN = "s3cret"
    response = anon_client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "RHYTHMIC_METRICS_TOKEN" in response.json()["error"]["message"]


def test_with_a_token_metrics_refuse_a_wrong_token(anon_client, settings):
    settings.RHYTHMIC_METRICS_TOKEN = "s3cret"
    assert anon_client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess").status_code == 401
    assert anon_client.get("/metrics", HTTP_AUTHORIZATION="Token s3cret").status_code == 401


def test_with_a_token_metrics_answer_its_bearer(anon_client, settings):
    settings.RHYTHMIC_METRICS_TOKEN = "s3cret"
    live_model("guarded")
    serving.predict(model="guarded", features={"x": 1.0})
    samples = scrape(anon_client, HTTP_AUTHORIZATION="Bearer s3cret")
    assert value(samples, "rhythmic_predictions_total", model="guarded", version="1") == 1


def test_metrics_answer_get_only(anon_client):
    response = anon_client.post("/metrics")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_in_multiprocess_mode_counters_of_every_process_are_summed(tmp_path):
    # Given two server processes that counted predictions in one PROMETHEUS_MULTIPROC_DIR
    code = (
        "import django; django.setup(); from monitoring import prometheus; "
        "prometheus.PREDICTIONS.labels('shared', '1').inc(2); "
        "prometheus.LATENCY.labels('shared', 'predict').observe(0.001)"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "rhythmic.settings"}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120, cwd=django_settings.BASE_DIR)
    # When any process renders /metrics from that directory
    samples = parse(prometheus.render(multiproc_dir=str(tmp_path)).decode())
    # Then the counts of both are summed
    assert value(samples, "rhythmic_predictions_total", model="shared", version="1") == 4
    assert value(samples, "rhythmic_request_duration_seconds_count", model="shared", route="predict") == 2


def test_the_grafana_dashboard_queries_only_exported_metrics(anon_client):
    # Given every kind of series exported
    model = live_model("graphed")
    serving.predict(model="graphed", features={"x": 1.0})
    serving.learn(model="graphed", features={"x": 1.0}, ground_truth=2.0)
    with pytest.raises(InvalidInput):
        serving.predict(model="graphed", features=[])
    monitoring_services.drift_point_record(model_id=model.pk, version_id=model.versions.get().pk, seq=1, n_drifts=1)
    exported = {family.name for family in text_string_to_metric_families(anon_client.get("/metrics").content.decode())}
    exported |= {f"{name}_total" for name in exported} | {f"{name}_bucket" for name in exported}
    # When the dashboard's queries are read
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    # Then each names only series /metrics exports
    assert exprs
    for expr in exprs:
        names = set(re.findall(r"\b(rhythmic_[a-z0-9_]+)", expr))
        assert names and names <= exported, (expr, names - exported)


def test_label_coverage_is_exported_per_model_from_the_database(anon_client, settings):
    # Given a model with three predictions made with an id: one labelled, one pushed out by the cap, one waiting
    settings.RHYTHMIC_MAX_PENDING = 2
    live_model("covered")
    for key in "abc":
        serving.predict(model="covered", features={"x": 1.0}, id=key)
    serving.learn(model="covered", id="c", ground_truth=1.0)
    # When Prometheus scrapes a process that never served it
    current().forget()
    samples = scrape(anon_client)
    # Then it sees the labelled and expired counts, the coverage and what still waits
    assert value(samples, "rhythmic_pending_labelled_total", model="covered") == 1
    assert value(samples, "rhythmic_pending_expired_total", model="covered") == 1
    assert value(samples, "rhythmic_label_coverage", model="covered") == 0.5
    assert value(samples, "rhythmic_pending", model="covered") == 1
