"""rhythmic/settings.py as a fresh process sees it: embedded defaults, production guards, Redis switches."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Variables these tests set themselves; anything inherited from the shell would blur the result.
CONTROLLED = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "DJANGO_SECRET_KEY",
    "DJANGO_DEBUG",
    "DATABASE_POOL",
    "DATABASE_CONN_MAX_AGE",
    "RHYTHMIC_DRIFT_DETECTOR",
)

REPORT = """
import json, django
django.setup()
from django.conf import settings
from rhythmic.celery import app
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "eager": app.conf.task_always_eager,
    "debug": settings.DEBUG,
    "conn_max_age": settings.DATABASES["default"]["CONN_MAX_AGE"],
    "pool": settings.DATABASES["default"].get("OPTIONS", {}).get("pool"),
}))
"""


def start(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """Set Django up in a new process with only ``env`` among the controlled variables."""
    environment = {key: value for key, value in os.environ.items() if key not in CONTROLLED}
    environment.update(DJANGO_SETTINGS_MODULE="rhythmic.settings", RHYTHMIC_VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", REPORT], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def settings_of(tmp_path, **env: str) -> dict:
    result = start(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("debug", ["0", "false"])
def test_production_mode_without_a_secret_key_refuses_to_start(tmp_path, debug):
    # Given DJANGO_DEBUG off and no DJANGO_SECRET_KEY
    # When Django starts
    result = start(tmp_path, DJANGO_DEBUG=debug)
    # Then it stops with a message naming the missing key
    assert result.returncode != 0
    assert "needs a real DJANGO_SECRET_KEY" in result.stderr


def test_production_mode_with_a_secret_key_starts(tmp_path):
    # Given DJANGO_DEBUG off and a secret key
    # When Django starts
    report = settings_of(tmp_path, DJANGO_DEBUG="0", DJANGO_SECRET_KEY="a-real-secret-for-this-test-only")
    # Then it runs without debug
    assert report["debug"] is False


def test_without_database_url_the_database_is_sqlite_in_the_var_dir(tmp_path):
    # Given no DATABASE_URL
    # When Django starts
    report = settings_of(tmp_path)
    # Then the database is a SQLite file in RHYTHMIC_VAR_DIR
    assert report["engine"] == "django.db.backends.sqlite3"
    assert report["name"] == str(tmp_path / "rhythmic.sqlite3")


def test_a_postgres_database_url_selects_postgres(tmp_path):
    # Given a postgres:// DATABASE_URL (nothing connects at setup)
    # When Django starts
    report = settings_of(tmp_path, DATABASE_URL="postgres://rhythmic@db.invalid:5432/rhythmic")
    # Then the engine is PostgreSQL with that database name
    assert report["engine"] == "django.db.backends.postgresql"
    assert report["name"] == "rhythmic"


def test_with_redis_url_channels_use_redis_and_tasks_go_to_the_broker(tmp_path):
    # Given REDIS_URL (nothing connects at setup)
    # When Django starts
    report = settings_of(tmp_path, REDIS_URL="redis://127.0.0.1:6379/9")
    # Then the channel layer is Redis and Celery tasks are not run inline
    assert report["channel_layer"] == "channels_redis.core.RedisChannelLayer"
    assert report["eager"] is False


def test_without_redis_url_channels_stay_in_memory_and_tasks_run_inline(tmp_path):
    # Given neither REDIS_URL nor CELERY_BROKER_URL
    # When Django starts
    report = settings_of(tmp_path)
    # Then the channel layer is in-process and tasks run inline
    assert report["channel_layer"] == "channels.layers.InMemoryChannelLayer"
    assert report["eager"] is True


def test_a_celery_broker_alone_sends_tasks_to_it_but_keeps_channels_in_memory(tmp_path):
    # Given CELERY_BROKER_URL without REDIS_URL
    # When Django starts
    report = settings_of(tmp_path, CELERY_BROKER_URL="amqp://guest@127.0.0.1:5672//")
    # Then tasks go to the broker while the channel layer stays in memory
    assert report["eager"] is False
    assert report["channel_layer"] == "channels.layers.InMemoryChannelLayer"


def test_postgres_with_a_pool_has_no_persistent_connections(tmp_path):
    found = settings_of(tmp_path, DATABASE_URL="postgres://u@db.invalid:5432/rhythmic", DATABASE_POOL="1")
    assert found["pool"] == {"min_size": 1, "max_size": 10, "timeout": 10.0}
    assert found["conn_max_age"] == 0


def test_postgres_outside_asgi_keeps_one_persistent_connection_per_thread(tmp_path):
    found = settings_of(tmp_path, DATABASE_URL="postgres://u@db.invalid:5432/rhythmic")
    assert found["pool"] is None
    assert found["conn_max_age"] == 60


def test_the_asgi_application_turns_the_pool_on(tmp_path):
    # Under daphne each request runs in a new thread: only a pool lets it reuse a connection.
    environment = {key: value for key, value in os.environ.items() if key not in CONTROLLED}
    environment.update(RHYTHMIC_VAR_DIR=str(tmp_path), DATABASE_URL="postgres://u@db.invalid:5432/rhythmic")
    script = (
        "import rhythmic.asgi; from django.conf import settings; "
        "print(settings.DATABASES['default']['OPTIONS'].get('pool'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "{'min_size': 1, 'max_size': 10, 'timeout': 10.0}"


def test_sqlite_keeps_its_connections(tmp_path):
    # Reopening SQLite per request (pragmas, WAL checkpoint on close) cost more than a predict's queries.
    assert settings_of(tmp_path)["conn_max_age"] == 60
    assert settings_of(tmp_path, DATABASE_CONN_MAX_AGE="0")["conn_max_age"] == 0


@pytest.mark.parametrize("name", ["Nonsense", "retrain", "DriftRetrainingClassifier"])
def test_a_drift_detector_that_is_not_one_refuses_to_start(tmp_path, name):
    result = start(tmp_path, RHYTHMIC_DRIFT_DETECTOR=name)
    assert result.returncode != 0
    assert f"RHYTHMIC_DRIFT_DETECTOR={name!r} is not" in result.stderr


def test_another_river_drift_detector_is_accepted(tmp_path):
    assert settings_of(tmp_path, RHYTHMIC_DRIFT_DETECTOR="KSWIN")["engine"].endswith("sqlite3")


BOUNDS = ["RHYTHMIC_MAX_PENDING", "RHYTHMIC_LOG_RETENTION_DAYS", "RHYTHMIC_LOG_RETENTION_ENTRIES"]


@pytest.mark.parametrize("name", [*BOUNDS, "RHYTHMIC_LOG_PRUNE_SECONDS"])
def test_a_negative_retention_bound_refuses_to_start(tmp_path, name):
    result = start(tmp_path, **{name: "-1"})
    assert result.returncode != 0
    assert f"{name}=-1 is negative" in result.stderr


def test_retention_bounds_of_zero_are_accepted(tmp_path):
    assert settings_of(tmp_path, **dict.fromkeys(BOUNDS, "0"))["engine"].endswith("sqlite3")
