"""serving.instances: which instances are live, lost or stopped; pruning; what a beat writes; the runtime's
thread, its commands and its stop (in this process; tests/processes/test_instances.py runs real servers)."""

import logging
import time
import uuid

import dill
import pytest

import serving
from catalogue import services
from serving import instances
from serving.models import Instance
from serving.process import ServingProcess, acting_as
from tests import factories

# the runtime's thread writes with a connection of its own; no_instance: only the rows these tests make
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.no_instance]


@pytest.fixture(autouse=True)
def _beats(settings):
    settings.RHYTHMIC_HEARTBEAT_SECONDS = 5
    settings.RHYTHMIC_INSTANCE_LOST_BEATS = 3  # lost after 15 s
    settings.RHYTHMIC_INSTANCE_PRUNE_SECONDS = 3600
    yield
    instances.stop()


@pytest.fixture
def hooks():
    before = list(instances._beat_hooks)
    yield instances._beat_hooks
    instances._beat_hooks[:] = before


def eventually(read, check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if check(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {timeout} s"
        time.sleep(0.02)


def live_model(name: str = "live"):
    model = factories.MLModelFactory(name=name)
    version = factories.ModelVersionFactory(model=model, artifact=dill.dumps(factories.river_regressor()))
    services.deployment_promote(version=version)
    return model, version


# --- live, status_of, prune ----------------------------------------------------------------------


def test_an_instance_is_live_until_it_misses_its_beats_and_stopped_once_it_stopped():
    fresh, late, gone = (
        factories.InstanceFactory(key="fresh", beat_ago=1),
        factories.InstanceFactory(key="late", beat_ago=14),
        factories.InstanceFactory(key="gone", beat_ago=16),
    )
    stopped = factories.InstanceFactory(key="stopped", stopped=True)
    assert [instances.status_of(i) for i in (fresh, late, gone, stopped)] == ["live", "live", "lost", "stopped"]
    assert set(instances.live().values_list("key", flat=True)) == {"fresh", "late"}


def test_live_of_a_location_counts_its_instances_and_those_that_serve_every_location():
    factories.InstanceFactory(key="eu", location="eu")
    factories.InstanceFactory(key="us", location="us")
    factories.InstanceFactory(key="any")
    assert set(instances.live("eu").values_list("key", flat=True)) == {"eu", "any"}
    assert set(instances.live().values_list("key", flat=True)) == {"eu", "us", "any"}


def test_prune_deletes_only_the_rows_whose_last_beat_is_older_than_the_prune_bound(settings):
    settings.RHYTHMIC_INSTANCE_PRUNE_SECONDS = 60
    factories.InstanceFactory(key="recent-lost", beat_ago=59)
    factories.InstanceFactory(key="old", beat_ago=61)
    factories.InstanceFactory(key="old-stopped", beat_ago=120, stopped=True)
    assert instances.prune() == 2
    assert list(Instance.objects.values_list("key", flat=True)) == ["recent-lost"]


# --- what a beat writes --------------------------------------------------------------------------


def test_the_first_beat_registers_the_process_with_what_it_runs(settings):
    settings.RHYTHMIC_LOCATION = "eu"
    runtime = instances.Runtime(Instance.Kind.ONESITE)
    runtime._beat()
    found = Instance.objects.get(key=runtime.instance.key)
    assert (found.kind, found.location, found.stopped_at, found.models) == ("onesite", "eu", None, {})
    assert found.runtime["packages"]["river"] and found.runtime["packages"]["scikit-learn"]
    assert instances.status_of(found) == instances.LIVE


def test_a_beat_reports_each_loaded_model_with_its_versions_applied_seq_and_lag_behind_the_head():
    # Given a model this process loaded at seq 1, then another process learned once more
    live_model()
    serving.learn(model="live", features={"x": 1.0}, ground_truth=2.0)
    runtime = instances.Runtime(Instance.Kind.WSGI)
    runtime._beat()
    assert Instance.objects.get(key=runtime.instance.key).models == {
        "live": {"versions": [1], "applied_seq": 1, "lag": 0}
    }
    with acting_as(ServingProcess()):
        serving.learn(model="live", features={"x": 1.0}, ground_truth=3.0)
    # When this process beats
    runtime._beat()
    # Then it reports the entry it has not applied yet
    assert Instance.objects.get(key=runtime.instance.key).models["live"] == {
        "versions": [1],
        "applied_seq": 1,
        "lag": 1,
    }


def test_a_beat_registers_the_instance_again_when_its_row_was_pruned():
    runtime = instances.Runtime(Instance.Kind.WSGI)
    runtime._beat()
    Instance.objects.all().delete()
    runtime._beat()
    assert Instance.objects.filter(key=runtime.instance.key).exists()


def test_beat_hooks_run_after_each_beat_and_a_failing_one_stops_neither_the_beat_nor_the_others(hooks, caplog):
    seen = []

    def failing(instance):
        raise RuntimeError("boom")

    instances.register_beat_hook(failing)
    instances.register_beat_hook(lambda instance: seen.append(instance.key))
    runtime = instances.Runtime(Instance.Kind.WSGI)
    with caplog.at_level(logging.ERROR, logger="serving.instances"):
        runtime._beat()
    assert seen == [runtime.instance.key]
    assert "beat hook" in caplog.text
    assert Instance.objects.filter(key=runtime.instance.key).exists()


def test_a_command_that_fails_or_is_unknown_is_logged_and_the_runtime_carries_on(caplog):
    def failing(message):
        raise ValueError("bad preload")

    instances.register_command("test-failing", failing)
    runtime = instances.Runtime(Instance.Kind.WSGI)
    with caplog.at_level(logging.WARNING, logger="serving.instances"):
        runtime._handle({"command": "test-failing"})
        runtime._handle({"command": "no-such-command"})
        runtime._handle({})
    assert "command 'test-failing' failed" in caplog.text
    assert "unknown command 'no-such-command'" in caplog.text


# --- the runtime: start, its thread, ping, stop --------------------------------------------------


def test_start_does_nothing_unless_instances_register(settings):
    settings.RHYTHMIC_REGISTER_INSTANCES = False
    assert instances.start(Instance.Kind.WSGI) is None
    assert instances.this() is None


def test_a_started_process_beats_on_its_thread_answers_a_ping_and_records_its_stop(settings):
    # Given this process started as an instance, beating rarely
    settings.RHYTHMIC_REGISTER_INSTANCES = True
    settings.RHYTHMIC_HEARTBEAT_SECONDS = 30
    started = instances.start(Instance.Kind.WSGI)
    assert instances.start(Instance.Kind.WSGI) is started  # once per process
    first = eventually(lambda: Instance.objects.filter(key=started.key).first(), lambda found: found is not None)
    assert first.channel  # the in-memory channel layer of the embedded default
    # When it is pinged over the transport
    ping = uuid.uuid4().hex
    assert instances.send_command(first, instances.PING, id=ping)
    # Then it beats at once, with the ping's id
    eventually(lambda: Instance.objects.get(key=started.key).runtime.get("ping", {}).get("id"), lambda v: v == ping)
    # And a clean stop is recorded
    instances.stop()
    assert instances.status_of(Instance.objects.get(key=started.key)) == instances.STOPPED
    assert instances.this() is None
