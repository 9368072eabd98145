"""Monitoring with a broker: webhook deliveries retried with backoff and drift records, in a real Celery worker."""

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import dill
import pytest
from river import linear_model, preprocessing

import serving
from catalogue import services
from monitoring import alerts, tasks
from monitoring import services as monitoring_services
from monitoring.models import DriftPoint, WebhookDelivery
from tests import factories

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"), reason="needs Redis and Postgres: set REDIS_URL and DATABASE_URL"
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def live():
    """A model named "live" whose production version is a scaled linear regression."""
    model = factories.MLModelFactory(name="live")
    obj = preprocessing.StandardScaler() | linear_model.LinearRegression()
    services.deployment_promote(version=factories.ModelVersionFactory(model=model, artifact=dill.dumps(obj)))
    return model


@pytest.fixture
def fast_retries(monkeypatch):
    """The worker process retries after about 1 s, then 2 s (Celery's smallest backoff factor)."""
    monkeypatch.setenv("RHYTHMIC_WEBHOOK_RETRY_BACKOFF", "1")


@pytest.fixture
def on_the_worker(celery_worker, monkeypatch):
    """Monitoring's tasks go to the test worker's private queue."""
    for task in (tasks.deliver_webhook, tasks.record_drift, tasks.announce_non_finite):
        monkeypatch.setattr(
            task,
            "delay",
            lambda *args, _task=task, **kwargs: _task.apply_async(args, kwargs, queue=celery_worker.queue),
        )
    return celery_worker


def wait_for(predicate, worker, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        worker.assert_running()
        time.sleep(0.2)  # another process writes the row: there is no in-process event to await
    raise AssertionError(f"nothing after {timeout} s; worker log:\n{worker.log()}")


def test_a_failing_webhook_is_retried_by_the_worker_until_it_succeeds(fast_retries, on_the_worker, live):
    # Given a receiver that answers 503 twice, then 204
    codes: list[int] = []

    class Flaky(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            codes.append(503 if len(codes) < 2 else 204)
            self.send_response(codes[-1])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
        monitoring_services.alert_rule_create(
            model="live",
            name="MAE too high",
            signal="metric:MAE",
            comparison=">",
            threshold=3,
            webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
        )
        # When the alert fires: its delivery goes to the broker
        alerts.evaluate_rules(model="live")
        # Then the worker process retries it until the receiver takes it
        delivery = wait_for(
            lambda: WebhookDelivery.objects.filter(status="succeeded").first(), on_the_worker, timeout=90
        )
    finally:
        server.shutdown()
        server.server_close()
    assert (delivery.attempts, delivery.last_status_code) == (3, 204)
    assert codes == [503, 503, 204]


def test_a_drift_is_recorded_by_the_worker(on_the_worker, live, settings):
    # Given a stream that changes regime at step 300
    settings.RHYTHMIC_ALERT_EVAL_SECONDS = settings.RHYTHMIC_SNAPSHOT_SECONDS = 3600
    items = []
    for step in range(500):
        x = (step * 7 % 20) / 2
        items.append({"features": {"x": x}, "ground_truth": 2 * x if step < 300 else 50 - 2 * x})
    # When this process learns it: the drift observer sends the record to the broker
    for start in range(0, 500, 100):
        serving.learn_many(model="live", items=items[start : start + 100])
    # Then the worker process records the drift points, the one after the change point among them
    point = wait_for(lambda: DriftPoint.objects.filter(seq__gt=300).first(), on_the_worker)
    assert point.seq <= 350
