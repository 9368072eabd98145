"""Production instances as real server processes report them: registration, heartbeats, lost, stopped, loaded
models, and commands over the channel layer (Redis) from another process."""

import os
import time
import uuid
from datetime import datetime

import pytest

from serving import instances
from serving.models import Instance
from tests.processes.test_replicas import PREDICT, make_live

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.no_instance]

BEAT = {"RHYTHMIC_HEARTBEAT_SECONDS": "0.5", "RHYTHMIC_REGISTER_INSTANCES": "1"}


@pytest.fixture(autouse=True)
def _short_beats(settings):
    settings.RHYTHMIC_HEARTBEAT_SECONDS = 0.5  # so that this process sees "lost" after 3 missed beats (1.5 s)


def eventually(read, check, timeout: float = 30.0):
    """Poll the database (where the servers write) until ``check(read())``; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if check(value):
            return value
        assert time.monotonic() < deadline, f"still {value!r} after {timeout} s"
        time.sleep(0.1)


def instance_of(server) -> Instance | None:
    return Instance.objects.filter(pid=server.process.pid).first()


def registered(server) -> Instance:
    return eventually(lambda: instance_of(server), lambda found: found is not None)


def test_two_servers_register_and_keep_beating(start_server, api):
    # Given two server processes of two kinds
    servers = [start_server(**BEAT), start_server("daphne", **BEAT)]
    # Then each registered itself with what it runs
    rows = [registered(server) for server in servers]
    assert [row.kind for row in rows] == ["onesite", "asgi"]
    for row in rows:
        assert row.key.startswith(f"{row.host}:{row.pid}:")
        assert row.runtime["python"].count(".") == 2
        assert {"river", "django", "numpy"} <= set(row.runtime["packages"])
        assert instances.status_of(row) == instances.LIVE
    # And either server's REST API lists both, live, with heartbeats that advance
    listed = api.get(servers[0].url + "/api/v1/instances/", params={"status": "live"}).json()["results"]
    assert {item["key"] for item in listed} >= {row.key for row in rows}
    for row in rows:
        url = f"{servers[1].url}/api/v1/instances/{row.key}/"
        first = api.get(url).json()
        assert (first["kind"], first["status"], first["pid"]) == (row.kind, "live", row.pid)
        beat_of = lambda url=url: datetime.fromisoformat(api.get(url).json()["last_beat"])  # noqa: E731
        eventually(beat_of, lambda beat, first=first: beat > datetime.fromisoformat(first["last_beat"]))


def test_a_daphne_server_stopped_with_sigterm_records_its_stop(start_server):
    server = start_server("daphne", **BEAT)
    row = registered(server)
    server.stop()
    assert instances.status_of(Instance.objects.get(pk=row.pk)) == instances.STOPPED


def test_a_killed_server_becomes_lost_and_a_stopped_one_stopped(start_server):
    # Given two servers beating
    killed, stopped = start_server(**BEAT), start_server(**BEAT)
    killed_row, stopped_row = registered(killed), registered(stopped)
    # When one is killed (no shutdown code runs) and the other stopped with SIGTERM
    killed.kill()
    stopped.stop()
    # Then the stopped one recorded its stop, and the killed one is lost once it missed its beats
    assert instances.status_of(Instance.objects.get(pk=stopped_row.pk)) == instances.STOPPED
    eventually(lambda: instances.status_of(Instance.objects.get(pk=killed_row.pk)), lambda s: s == instances.LOST)
    assert not instances.live().filter(pk__in=[killed_row.pk, stopped_row.pk]).exists()


def test_a_gunicorn_worker_registers_as_wsgi_and_its_sigterm_stops_it(start_server):
    server = start_server("gunicorn", **BEAT)
    row = eventually(lambda: Instance.objects.filter(kind="wsgi").first(), lambda found: found is not None)
    assert row.pid != server.process.pid  # the worker registered, not the master
    server.stop()
    assert instances.status_of(Instance.objects.get(pk=row.pk)) == instances.STOPPED


def test_a_predict_makes_the_model_appear_in_the_instance_with_its_applied_seq_and_no_lag(start_server, api):
    # Given a live model and a server that has not served it
    _, version = make_live()
    server = start_server(**BEAT)
    assert registered(server).models == {}
    # When a client predicts on it
    assert api.post(server.url + PREDICT, json={"features": {"x": 1.0}}).status_code == 200
    # Then the server's next beat reports the model, its loaded version, the sequence applied, no lag
    row = eventually(lambda: instance_of(server), lambda found: "live" in found.models)
    assert row.models["live"] == {"versions": [version.number], "applied_seq": 0, "lag": 0}


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="commands cross processes on Redis: set REDIS_URL")
def test_a_ping_sent_from_another_process_reaches_the_instance_and_its_next_beat_reports_it(start_server, settings):
    # Given a server beating rarely, with a channel for commands on the Redis channel layer
    server = start_server(RHYTHMIC_HEARTBEAT_SECONDS="30", RHYTHMIC_REGISTER_INSTANCES="1")
    row = eventually(lambda: instance_of(server), lambda found: found is not None and found.channel)
    # When this process sends it a ping
    ping = uuid.uuid4().hex
    assert instances.send_command(row, instances.PING, id=ping)
    # Then it runs the command and beats at once with the ping's id (long before its next scheduled beat)
    found = eventually(lambda: instance_of(server), lambda found: found.runtime.get("ping", {}).get("id") == ping)
    assert found.last_beat > row.last_beat
