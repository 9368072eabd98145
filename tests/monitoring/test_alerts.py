"""Alert rules: evaluation fires, refreshes and resolves alerts; webhooks; the REST API and its error paths."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

import serving
from catalogue.errors import Conflict, InvalidInput
from monitoring import alerts, webhooks, worker
from monitoring import services as monitoring_services
from monitoring.models import Alert, AlertRule, WebhookDelivery
from monitoring.tasks import deliver_webhook, evaluate_alerts
from serving.process import ServingProcess, acting_as, current
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings):
    # A learn evaluates the rules only once an hour here: tests evaluate explicitly (after the first learn).
    settings.RHYTHMIC_ALERT_EVAL_SECONDS = 3600


def rule(model="live", **fields):
    values = {"name": "MAE too high", "signal": "metric:MAE", "comparison": ">", "threshold": 3.0, **fields}
    return monitoring_services.alert_rule_create(model=model, **values)


def exact_learn(model="live"):
    """A learn whose ground truth is the model's own prediction: zero error."""
    prediction = serving.predict(model=model, features={"x": 1.0}, id="exact").prediction
    serving.learn(model=model, id="exact", ground_truth=prediction)


@pytest.fixture
def webhook():
    """A local HTTP server that records the JSON bodies POSTed to it; ``received`` is set on each."""

    class Hook:
        bodies: list = []
        received = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            Hook.bodies.append(json.loads(self.rfile.read(length)))
            Hook.received.set()  # before the answer: once the sender has it, the test may look
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    Hook.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield Hook
    server.shutdown()
    server.server_close()


# --- evaluation ------------------------------------------------------------------------------------


def test_a_metric_rule_fires_when_the_metric_crosses_its_threshold(live):
    # Given a rule MAE > 3 and a model whose MAE is 10
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()  # the learn's evaluation ran: no rule yet
    mae = rule()
    # When the rules are evaluated
    changed = alerts.evaluate_rules(model="live")
    # Then one alert fires with the metric's value
    assert [alert.state for alert in changed] == ["firing"]
    alert = Alert.objects.get()
    assert (alert.rule, alert.state, alert.value) == (mae, "firing", 10.0)
    assert "MAE is 10" in alert.message


def test_a_firing_alert_resolves_when_the_condition_clears(live):
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()  # the learn's evaluation ran: no rule yet
    rule()
    alerts.evaluate_rules(model="live")
    # When accurate learns bring the MAE under 3 (10 / 5 = 2)
    for _ in range(4):
        exact_learn()
    alerts.evaluate_rules(model="live")
    # Then the alert is resolved
    alert = Alert.objects.get()
    assert alert.state == "resolved"
    assert alert.resolved_at is not None
    assert alert.value == pytest.approx(2.0)


def test_a_rule_keeps_one_open_alert_and_refreshes_its_value(live):
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()  # the learn's evaluation ran: no rule yet
    rule()
    alerts.evaluate_rules(model="live")
    serving.learn(model="live", features={"x": 1.0}, ground_truth=20.0)
    assert alerts.evaluate_rules(model="live") == []
    alert = Alert.objects.get()
    assert alert.state == "firing"
    assert alert.value > 10.0


def test_a_condition_that_holds_again_after_resolving_fires_a_new_alert(live):
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()  # the learn's evaluation ran: no rule yet
    mae = rule()
    alerts.evaluate_rules(model="live")
    monitoring_services.alert_rule_update(rule=mae, threshold=100.0)
    alerts.evaluate_rules(model="live")
    monitoring_services.alert_rule_update(rule=mae, threshold=1.0)
    alerts.evaluate_rules(model="live")
    assert list(Alert.objects.order_by("id").values_list("state", flat=True)) == ["resolved", "firing"]


@pytest.mark.django_db(transaction=True)  # monitoring's worker evaluates, on its own connection
def test_a_learn_evaluates_the_rules_of_its_model(live, settings):
    settings.RHYTHMIC_ALERT_EVAL_SECONDS = 0
    rule()
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()
    assert Alert.objects.get().state == "firing"


@pytest.mark.django_db(transaction=True)
def test_evaluation_on_learn_is_throttled_per_model(live, settings):
    settings.RHYTHMIC_ALERT_EVAL_SECONDS = 3600
    serving.learn(model="live", features={"x": 1.0}, ground_truth=1.0)  # evaluates: no rule yet
    assert worker.drain()
    rule()
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)  # throttled: not evaluated
    assert worker.drain()
    assert not Alert.objects.exists()
    assert evaluate_alerts.delay("live").get() == 1  # the periodic task catches it


def test_a_disabled_rule_is_not_evaluated_and_disabling_resolves_its_alert(live):
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()  # the learn's evaluation ran: no rule yet
    mae = rule()
    alerts.evaluate_rules(model="live")
    monitoring_services.alert_rule_update(rule=mae, enabled=False)
    assert Alert.objects.get().state == "resolved"
    assert alerts.evaluate_rules(model="live") == []


def test_an_acknowledged_alert_stays_acknowledged_while_the_condition_holds(live):
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()  # the learn's evaluation ran: no rule yet
    rule()
    alerts.evaluate_rules(model="live")
    monitoring_services.alert_acknowledge(alert=Alert.objects.get())
    assert alerts.evaluate_rules(model="live") == []
    assert list(Alert.objects.values_list("state", flat=True)) == ["acknowledged"]


def test_acknowledging_a_resolved_alert_is_a_conflict(live):
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()  # the learn's evaluation ran: no rule yet
    mae = rule()
    alerts.evaluate_rules(model="live")
    monitoring_services.alert_rule_update(rule=mae, threshold=100.0)
    alerts.evaluate_rules(model="live")
    with pytest.raises(Conflict, match="resolved"):
        monitoring_services.alert_acknowledge(alert=Alert.objects.get())


def test_error_rate_is_the_share_of_refused_calls_in_the_window(live):
    rule(name="errors", signal="error_rate", comparison=">=", threshold=0.5, window_seconds=60)
    serving.predict(model="live", features={"x": 1.0})
    with pytest.raises(InvalidInput):
        serving.predict(model="live", features=[1])
    alert = alerts.evaluate_rules(model="live")[0]
    assert alert.value == 0.5


def test_latency_p99_is_measured_in_seconds_over_this_processs_calls(live):
    slow = rule(name="slow", signal="latency_p99", comparison=">", threshold=0.0)
    serving.predict(model="live", features={"x": 1.0})
    value = alerts.signal_value(slow)
    assert 0 < value < 60


def test_latency_p99_leaves_out_refused_calls(live):
    # Given a rule on latency and only a refused call in this process
    slow = rule(name="slow", signal="latency_p99", comparison=">", threshold=0.0)
    with pytest.raises(InvalidInput):
        serving.predict(model="live", features=[1])
    # Then latency has no data (the refusal still counts in error_rate)
    assert alerts.signal_value(slow) is None


@pytest.mark.django_db(transaction=True)  # monitoring's worker writes the snapshot
def test_latency_p99_falls_back_to_the_snapshots_of_other_processes(live):
    slow = rule(name="slow", signal="latency_p99", comparison=">", threshold=0.0)
    serving.predict(model="live", features={"x": 1.0})
    serving.learn(model="live", features={"x": 1.0}, ground_truth=1.0)  # snapshot with the predict's stats
    assert worker.drain()
    p99 = serving.route_stats(model="live")["predict"]["p99_duration"]
    current().reset()  # as seen from a process that served no call
    assert alerts.signal_value(slow) == pytest.approx(p99 / 1e9)


def test_a_signal_without_data_here_changes_nothing(live):
    rule(name="errors", signal="error_rate", comparison=">", threshold=0.1)
    assert alerts.evaluate_rules(model="live") == []
    assert not Alert.objects.exists()


def test_lag_fires_when_this_process_is_behind_the_log(live, monkeypatch):
    rule(name="lag", signal="lag", comparison=">=", threshold=2)
    serving.predict(model="live", features={"x": 1.0})
    with acting_as(ServingProcess()):  # another process learns
        for truth in (1.0, 2.0):
            serving.learn(model="live", features={"x": 1.0}, ground_truth=truth)
    alert = alerts.evaluate_rules(model="live", signals=("lag",))[0]
    assert alert.value == 2


# --- notifications ---------------------------------------------------------------------------------


def test_a_state_change_is_published_as_a_live_alert_event(live, monkeypatch, django_capture_on_commit_callbacks):
    published = []
    monkeypatch.setattr(monitoring_services, "publish", lambda event, **kwargs: published.append((event, kwargs)))
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()  # the learn's evaluation ran: no rule yet
    rule()
    with django_capture_on_commit_callbacks(execute=True):
        alerts.evaluate_rules(model="live")
    event, kwargs = published[0]
    assert (event["type"], event["state"], event["model"], event["value"]) == ("alert", "firing", "live", 10.0)
    assert kwargs == {"model": "live", "sample": False}


@pytest.mark.django_db(transaction=True)  # the delivery is POSTed by monitoring's worker
def test_the_webhook_receives_the_alert_as_json(live, webhook):
    # Given a rule with a webhook, run by an eager task
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()  # the learn's evaluation ran: no rule yet
    rule(webhook_url=webhook.url)
    # When the alert fires (and its transaction commits)
    alerts.evaluate_rules(model="live")
    assert worker.drain()
    # Then the local server received its JSON, and the delivery is recorded as succeeded
    assert webhook.received.is_set()
    body = webhook.bodies[0]
    assert (body["type"], body["state"], body["rule"], body["signal"]) == (
        "alert",
        "firing",
        "MAE too high",
        "metric:MAE",
    )
    assert body["value"] == 10.0
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 204)
    assert (delivery.alert, delivery.url, delivery.event) == (Alert.objects.get(), webhook.url, body)


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_a_slow_webhook_does_not_hold_the_evaluation(live, settings):
    settings.RHYTHMIC_WEBHOOK_TIMEOUT = 10
    returned, answered = threading.Event(), threading.Event()
    seen = {}

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self):
            # Answer only once the evaluation has returned (or after 5 s, if it waits for this answer).
            seen["returned_first"] = returned.wait(5)
            self.send_response(204)
            self.end_headers()
            answered.set()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
        rule(webhook_url=f"http://127.0.0.1:{server.server_port}/")
        alerts.evaluate_rules(model="live")
        returned.set()
        assert answered.wait(10)
        assert worker.drain()
    finally:
        server.shutdown()
        server.server_close()
    assert seen["returned_first"], "the evaluation waited for the webhook's answer"


@pytest.fixture
def flaky_webhook():
    """A local HTTP server that answers 503 to the first two POSTs, then 204; ``codes`` lists its answers."""

    class Hook:
        codes: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            code = 503 if len(Hook.codes) < 2 else 204
            Hook.codes.append(code)
            self.send_response(code)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    Hook.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield Hook
    server.shutdown()
    server.server_close()


@pytest.mark.django_db(transaction=True)
def test_a_failing_webhook_is_retried_until_it_succeeds(live, flaky_webhook):
    # Given a rule whose webhook fails twice before it takes the delivery
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()  # the learn's evaluation ran: no rule yet
    rule(webhook_url=flaky_webhook.url)
    # When the alert fires
    alerts.evaluate_rules(model="live")
    assert worker.drain()
    # Then the task retried, and the delivery shows three attempts and success
    assert flaky_webhook.codes == [503, 503, 204]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "succeeded",
        3,
        204,
        "",
    )
    assert delivery.delivered_at is not None


def delivery_to(url: str, live) -> WebhookDelivery:
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    rule()  # no webhook: the delivery is made by hand
    alert = alerts.evaluate_rules(model="live")[0]
    return webhooks.delivery_create(alert=alert, url=url, event={"type": "alert"})


def test_an_unreachable_webhook_fails_after_its_retries_logged_not_raised(live, caplog):
    # Given a delivery to a port nobody listens on (bound, then closed)
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_port}/hook"
    server.server_close()
    delivery = delivery_to(url, live)
    # When the task posts it (eagerly, retries following at once)
    deliver_webhook.apply(args=(delivery.pk,))
    # Then it failed quietly after every retry, with a log line
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "failed",
        deliver_webhook.max_retries + 1,
        None,
    )
    assert "Connection refused" in delivery.last_error or "URLError" in delivery.last_error
    assert "alert webhook" in caplog.text


def test_a_webhook_answering_an_error_records_its_status(live, settings, caplog):
    class Refusing(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        delivery = delivery_to(f"http://127.0.0.1:{server.server_port}/", live)
        deliver_webhook.apply(args=(delivery.pk,))
    finally:
        server.shutdown()
        server.server_close()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == ("failed", 500, "answered 500")
    assert "answered 500" in caplog.text


def test_a_finished_delivery_is_not_posted_again(live):
    # Given a delivery that succeeded (a duplicate message of its task arrives)
    delivery = delivery_to("http://127.0.0.1:9/never", live)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="succeeded", attempts=1)
    # When the task runs again, then it posts nothing and changes nothing
    assert deliver_webhook.apply(args=(delivery.pk,)).get() is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)


# --- REST: rules -----------------------------------------------------------------------------------

RULES = "/api/v1/alert-rules/"


def body(**fields):
    return {
        "model": "live",
        "name": "MAE too high",
        "signal": "metric:MAE",
        "comparison": ">",
        "threshold": 3,
        **fields,
    }


def test_a_maintainer_creates_a_rule(maintainer_client, live):
    response = maintainer_client.post(RULES, body(webhook_url="https://hooks.example.com/x"), format="json")
    assert response.status_code == 201
    data = response.json()
    assert data["model"] == "live"
    assert (data["signal"], data["comparison"], data["threshold"]) == ("metric:MAE", ">", 3.0)
    assert (data["window_seconds"], data["enabled"], data["created_by"]) == (300, True, "maintainer")
    assert AlertRule.objects.get().webhook_url == "https://hooks.example.com/x"


@pytest.mark.parametrize(
    ("fields", "field", "phrase"),
    [
        ({"signal": "temperature"}, "signal", "signal must be one of"),
        ({"signal": "metric:Accuracy"}, "signal", "its metrics are MAE"),
        ({"signal": 5}, "signal", "signal must be one of"),
        ({"comparison": "=="}, "comparison", "comparison must be one of"),
        ({"threshold": "high"}, "threshold", "threshold must be a number"),
        ({"threshold": True}, "threshold", "threshold must be a number"),
        ({"threshold": None}, "threshold", "threshold must be a number"),
        ({"window_seconds": 0}, "window_seconds", "window_seconds must be"),
        ({"window_seconds": "soon"}, "window_seconds", "window_seconds must be"),
        ({"webhook_url": "ftp://example.com/x"}, "webhook_url", "http(s) URL"),
        ({"webhook_url": "not a url"}, "webhook_url", "http(s) URL"),
        ({"enabled": "yes"}, "enabled", "true or false"),
        ({"name": ""}, "name", "name must be"),
        ({"model": "ghost"}, "model", "no model named 'ghost'"),
        ({"colour": "red"}, "colour", "unknown field 'colour'"),
    ],
)
def test_creating_a_rule_with_bad_input_says_what_to_fix(maintainer_client, live, fields, field, phrase):
    response = maintainer_client.post(RULES, body(**fields), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field
    assert phrase in error["message"]
    assert not AlertRule.objects.exists()


def test_creating_a_rule_without_a_required_field_names_it(maintainer_client, live):
    fields = body()
    del fields["threshold"]
    response = maintainer_client.post(RULES, fields, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "threshold"


def test_creating_a_rule_needs_a_json_object(maintainer_client, live):
    response = maintainer_client.post(RULES, [1, 2], format="json")
    assert response.status_code == 400
    assert "JSON object" in response.json()["error"]["message"]


def test_creating_a_rule_needs_the_change_model_permission(reader_client, live):
    response = reader_client.post(RULES, body(), format="json")
    assert response.status_code == 403
    assert "catalogue.change_mlmodel" in response.json()["error"]["message"]


def test_rules_need_a_login(anon_client, live):
    assert anon_client.get(RULES).status_code == 401


def test_rules_are_listed_and_filtered_by_model(reader_client, live):
    rule()
    factories.MLModelFactory(name="other")
    rule("other", name="other rule")
    response = reader_client.get(RULES + "?model=other")
    assert response.status_code == 200
    assert [r["name"] for r in response.json()["results"]] == ["other rule"]
    assert reader_client.get(RULES).json()["count"] == 2


def test_listing_rules_of_an_unknown_model_is_refused(reader_client, live):
    response = reader_client.get(RULES + "?model=ghost")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "model"


def test_a_rule_is_read_changed_and_deleted(maintainer_client, live):
    pk = rule().pk
    assert maintainer_client.get(f"{RULES}{pk}/").json()["threshold"] == 3.0
    response = maintainer_client.patch(f"{RULES}{pk}/", {"threshold": 5, "enabled": False}, format="json")
    assert response.status_code == 200
    assert (response.json()["threshold"], response.json()["enabled"]) == (5.0, False)
    assert maintainer_client.delete(f"{RULES}{pk}/").status_code == 204
    assert not AlertRule.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"comparison": "!="}, "comparison"), ({"threshold": "x"}, "threshold"), ({"model": "other"}, "model")],
)
def test_changing_a_rule_with_bad_input_is_refused(maintainer_client, live, fields, field):
    pk = rule().pk
    response = maintainer_client.patch(f"{RULES}{pk}/", fields, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert AlertRule.objects.get().comparison == ">"


def test_changing_or_deleting_a_rule_needs_the_change_model_permission(reader_client, live):
    pk = rule().pk
    assert reader_client.patch(f"{RULES}{pk}/", {"threshold": 1}, format="json").status_code == 403
    assert reader_client.delete(f"{RULES}{pk}/").status_code == 403


def test_an_unknown_rule_is_not_found(maintainer_client, live):
    response = maintainer_client.get(f"{RULES}999/")
    assert response.status_code == 404
    assert "no alert rule 999" in response.json()["error"]["message"]


def test_the_slashless_rules_route_redirects_keeping_the_method(maintainer_client, live):
    response = maintainer_client.post(RULES.rstrip("/"), body(), format="json")
    assert response.status_code == 308
    assert response["Location"] == RULES


# --- REST: alerts ----------------------------------------------------------------------------------

ALERTS = "/api/v1/alerts/"


@pytest.fixture
def firing(live):
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()  # the learn's evaluation ran: no rule yet
    rule()
    return alerts.evaluate_rules(model="live")[0]


def test_alerts_are_listed_with_their_rule_and_filtered(reader_client, firing):
    data = reader_client.get(ALERTS + "?state=firing&model=live").json()
    assert [(a["id"], a["state"], a["rule"], a["model"]) for a in data["results"]] == [
        (firing.pk, "firing", "MAE too high", "live")
    ]
    assert reader_client.get(ALERTS + "?state=resolved").json()["results"] == []


def test_listing_alerts_with_a_bad_state_or_unknown_model_is_refused(reader_client, firing):
    response = reader_client.get(ALERTS + "?state=burning")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "state"
    assert reader_client.get(ALERTS + "?model=ghost").status_code == 400


def test_a_maintainer_acknowledges_a_firing_alert(maintainer_client, firing):
    response = maintainer_client.post(f"{ALERTS}{firing.pk}/acknowledge")
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["acknowledged_by"]) == ("acknowledged", "maintainer")


def test_acknowledging_a_resolved_alert_answers_409(maintainer_client, firing):
    monitoring_services.alert_rule_update(rule=firing.rule, enabled=False)
    response = maintainer_client.post(f"{ALERTS}{firing.pk}/acknowledge")
    assert response.status_code == 409
    assert "resolved" in response.json()["error"]["message"]


def test_acknowledging_needs_the_permission_and_an_existing_alert(reader_client, maintainer_client, firing):
    assert reader_client.post(f"{ALERTS}{firing.pk}/acknowledge").status_code == 403
    response = maintainer_client.post(f"{ALERTS}999/acknowledge")
    assert response.status_code == 404
    assert "no alert 999" in response.json()["error"]["message"]


DELIVERIES = "/api/v1/webhook-deliveries/"


@pytest.mark.django_db(transaction=True)
def test_webhook_deliveries_are_listed_with_their_outcome(reader_client, live, flaky_webhook):
    # Given an alert whose webhook took the delivery at the third attempt
    serving.learn(model="live", features={"x": 1.0}, ground_truth=10.0)
    assert worker.drain()  # the learn's evaluation ran: no rule yet
    rule(webhook_url=flaky_webhook.url)
    alert = alerts.evaluate_rules(model="live")[0]
    assert worker.drain()
    # When its deliveries are listed
    data = reader_client.get(f"{DELIVERIES}?alert={alert.pk}&status=succeeded&model=live").json()
    # Then the one delivery shows its attempts and outcome
    [delivery] = data["results"]
    assert (delivery["alert_id"], delivery["model"], delivery["state"], delivery["url"]) == (
        alert.pk,
        "live",
        "firing",
        flaky_webhook.url,
    )
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("succeeded", 3, 204)
    assert reader_client.get(f"{DELIVERIES}?status=failed").json()["results"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=lost", "status"), ("alert=first", "alert"), ("alert=-1", "alert"), ("model=x", "model")],
)
def test_listing_deliveries_with_bad_filters_is_refused(reader_client, live, query, field):
    response = reader_client.get(f"{DELIVERIES}?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_listing_deliveries_needs_a_login(anon_client):
    assert anon_client.get(DELIVERIES).status_code == 401


# --- admin -----------------------------------------------------------------------------------------


def admin_url(name: str, *args) -> str:
    from django.urls import reverse

    return reverse(f"admin:monitoring_{name}", args=args)


def test_the_monitoring_admin_pages_render(admin_client, firing):
    webhooks.delivery_create(alert=firing, url="https://hooks.example.com/x", event={"type": "alert"})
    monitoring_services.drift_point_record(
        model_id=firing.rule.model_id, version_id=firing.rule.model.production_version_id, seq=1, n_drifts=1
    )
    for name in ("alertrule", "alert", "metricsnapshot", "driftpoint", "webhookdelivery"):
        assert admin_client.get(admin_url(f"{name}_changelist")).status_code == 200, name
    assert admin_client.get(admin_url("alertrule_change", firing.rule.pk)).status_code == 200
    assert admin_client.get(admin_url("alert_change", firing.pk)).status_code == 200


def test_the_admin_refuses_a_rule_on_a_metric_the_model_lacks(admin_client, live):
    form = {
        "model": live.pk,
        "name": "accuracy",
        "signal": "metric:Accuracy",
        "comparison": "<",
        "threshold": "0.9",
        "window_seconds": "300",
        "enabled": "on",
    }
    response = admin_client.post(admin_url("alertrule_add"), form, follow=True)
    assert response.status_code == 200
    assert any("its metrics are MAE" in str(message) for message in response.context["messages"])
    assert not AlertRule.objects.exists()


def test_the_admin_creates_a_rule_through_the_service(admin_client, admin_user, live):
    form = {
        "model": live.pk,
        "name": "slow",
        "signal": "latency_p99",
        "comparison": ">",
        "threshold": "0.5",
        "window_seconds": "60",
        "enabled": "on",
    }
    response = admin_client.post(admin_url("alertrule_add"), form)
    assert response.status_code == 302
    assert AlertRule.objects.get().created_by == admin_user


def test_the_admin_acknowledges_firing_alerts(admin_client, firing):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    data = {"action": "acknowledge", ACTION_CHECKBOX_NAME: [firing.pk]}
    admin_client.post(admin_url("alert_changelist"), data, follow=True)
    assert Alert.objects.get().state == "acknowledged"
