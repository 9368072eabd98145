"""Drift points: detected in the replicated state, recorded once however many replicas (or replays) see them."""

import pytest

import serving
from monitoring import alerts, events, worker
from monitoring import services as monitoring_services
from monitoring.models import Alert, DriftPoint
from serving.process import current
from serving.replicas import Replicas

# Drift points are recorded by monitoring's worker thread, on its own connection: the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

CHANGE_POINT = 300


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.RHYTHMIC_ALERT_EVAL_SECONDS = 3600
    settings.RHYTHMIC_CHECKPOINT_EVERY = 10_000  # a replay starts from the first entry


def stream(start: int, stop: int) -> list[dict]:
    """y = 2x until the change point, then y = 50 - 2x."""
    items = []
    for step in range(start, stop):
        x = (step * 7 % 20) / 2
        items.append({"features": {"x": x}, "ground_truth": 2 * x if step < CHANGE_POINT else 50 - 2 * x})
    return items


def learn_stream(steps: int = 500) -> None:
    for start in range(0, steps, 100):
        serving.learn_many(model="live", items=stream(start, min(steps, start + 100)))
    assert worker.drain()


def n_drifts(on: Replicas) -> int:
    entry = on.entry("live")
    with entry.lock:
        return entry.production().metrics.n_drifts


def test_a_change_in_the_stream_is_detected_soon_after_the_change_point(live):
    learn_stream()
    seqs = list(DriftPoint.objects.values_list("seq", flat=True))
    assert any(CHANGE_POINT < seq <= CHANGE_POINT + 50 for seq in seqs), seqs


def test_each_detection_is_recorded_as_one_drift_point(live):
    learn_stream()
    assert DriftPoint.objects.count() == n_drifts(current().replicas) >= 1


def test_a_second_replica_replaying_the_log_records_no_duplicate(live):
    # Given the drifts recorded by this process
    learn_stream()
    recorded = list(DriftPoint.objects.order_by("seq").values_list("version__number", "seq"))
    # When another process loads the version and replays the whole log
    other = Replicas()
    replayed = n_drifts(other)
    assert worker.drain()
    # Then it saw the same detections, and they are stored once
    assert replayed == len(recorded)
    assert list(DriftPoint.objects.order_by("seq").values_list("version__number", "seq")) == recorded


def test_a_drift_is_announced_live_only_when_first_recorded(live, monkeypatch):
    published = []
    monkeypatch.setattr(events, "publish", lambda event, **kwargs: published.append(event))
    learn_stream()
    first = [event for event in published if event["type"] == "drift"]
    n_drifts(Replicas())  # a replay
    assert worker.drain()
    again = [event for event in published if event["type"] == "drift"]
    assert len(first) == DriftPoint.objects.count()
    assert again == first


def test_recording_a_known_drift_point_returns_nothing(live):
    version = live.versions.get()
    first = monitoring_services.drift_point_record(model_id=live.pk, version_id=version.pk, seq=7, n_drifts=1)
    again = monitoring_services.drift_point_record(model_id=live.pk, version_id=version.pk, seq=7, n_drifts=1)
    assert first is not None
    assert again is None


def test_a_drift_fires_a_drift_alert_when_detected(live):
    # Given a rule on drift
    monitoring_services.alert_rule_create(
        model=live, name="drifted", signal="drift", comparison=">=", threshold=1, window_seconds=600
    )
    # When the stream drifts (the learns' own evaluation is throttled: the drift itself evaluates)
    learn_stream()
    # Then the rule fires, counting the drift points in its window
    alert = Alert.objects.get()
    assert alert.state == "firing"
    assert alert.value >= 1


def test_a_drift_alert_resolves_when_no_drift_is_in_the_window(live):
    rule = monitoring_services.alert_rule_create(
        model=live, name="drifted", signal="drift", comparison=">=", threshold=1, window_seconds=600
    )
    learn_stream()
    DriftPoint.objects.update(detected_at=DriftPoint.objects.first().detected_at.replace(year=2000))
    alerts.evaluate_rules(model="live")
    assert Alert.objects.get(rule=rule).state == "resolved"


def test_the_history_lists_the_drifts(reader_client, live):
    learn_stream()
    drifts = reader_client.get("/api/v1/models/live/metrics/history").json()["drifts"]
    assert [(d["version"], d["seq"]) for d in drifts] == list(
        DriftPoint.objects.order_by("seq").values_list("version__number", "seq")
    )
