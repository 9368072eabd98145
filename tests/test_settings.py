"""rhythmic/settings.py as a fresh process sees it: embedded defaults, production guards, Redis switches."""

import json
import os
import secrets
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
    "RHYTHMIC_MAX_LOADED_MODELS",
    "RHYTHMIC_MAX_LOADED_MB",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_HTTPS",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_SESSION_COOKIE_SECURE",
    "DJANGO_CSRF_COOKIE_SECURE",
    "DJANGO_SECURE_HSTS_SECONDS",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "DJANGO_SECURE_HSTS_PRELOAD",
    "DJANGO_SECURE_PROXY_SSL_HEADER",
)
# A key as the README says to make one.
REAL_KEY = secrets.token_urlsafe(50)

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
    report = settings_of(tmp_path, DJANGO_DEBUG="0", DJANGO_SECRET_KEY=REAL_KEY)
    # Then it runs without debug
    assert report["debug"] is False


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "it is empty"),
        (" ", "it is only whitespace"),
        ("\t \n", "it is only whitespace"),
        ("short", "it has 5 characters; at least 50 are needed"),
        ("a-real-secret-for-this-test-only", "it has 32 characters"),
        ("ab" * 40, "it has 2 distinct characters; at least 5 are needed"),
        ("django-insecure-" + "0123456789abcdef" * 4, "one Django generated for development"),
        ("dev-insecure-rhythmic-key-do-not-use-in-production", "the development key is refused"),
    ],
)
def test_production_mode_refuses_a_weak_secret_key_and_says_why(tmp_path, key, why):
    # Given DJANGO_DEBUG off and a key that is empty, blank, short, repetitive or a development one
    # When Django starts
    result = start(tmp_path, DJANGO_DEBUG="0", DJANGO_SECRET_KEY=key)
    # Then it stops, saying what is wrong and how to make a good key
    assert result.returncode != 0
    assert "needs a real DJANGO_SECRET_KEY: " in result.stderr
    assert why in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr


def test_debug_mode_keeps_its_development_key(tmp_path):
    # make run serves with DJANGO_DEBUG on and no key: nothing to refuse there
    assert settings_of(tmp_path)["debug"] is True


def deploy_check(tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key not in CONTROLLED}
    environment.update(DJANGO_SETTINGS_MODULE="rhythmic.settings", RHYTHMIC_VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": REAL_KEY, "DJANGO_ALLOWED_HOSTS": "rhythmic.example.com"}


def test_check_deploy_passes_in_production_over_https(tmp_path):
    # Given production settings for a site behind a TLS-terminating proxy, as the README configures it
    env = {**PRODUCTION, "DJANGO_HTTPS": "1", "DJANGO_SECURE_PROXY_SSL_HEADER": "1", "DJANGO_SECURE_HSTS_PRELOAD": "1"}
    # When Django's deployment checks run, failing on any warning
    result = deploy_check(tmp_path, **env)
    # Then none is raised
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_without_https_the_deploy_check_names_the_https_settings(tmp_path):
    # Plain HTTP stays the default (make topology, the compose file): the check says what HTTPS would add.
    result = deploy_check(tmp_path, **PRODUCTION)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


def test_https_settings_follow_django_https_and_each_can_be_overridden(tmp_path):
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps(["
        "s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SECURE_PROXY_SSL_HEADER]))"
    )
    environment = {key: value for key, value in os.environ.items() if key not in CONTROLLED}
    environment.update(DJANGO_SETTINGS_MODULE="rhythmic.settings", RHYTHMIC_VAR_DIR=str(tmp_path))

    def found(**env: str) -> list:
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env={**environment, **env}, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    assert found() == [False, False, False, 0, False, False, None]
    assert found(DJANGO_HTTPS="1") == [True, True, True, 31536000, True, False, None]
    assert found(DJANGO_HTTPS="1", DJANGO_SECURE_SSL_REDIRECT="0", DJANGO_SECURE_HSTS_SECONDS="60") == [
        False,
        True,
        True,
        60,
        True,
        False,
        None,
    ]
    assert found(DJANGO_SECURE_PROXY_SSL_HEADER="1")[-1] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_without_database_url_the_database_is_sqlite_in_the_var_dir(tmp_path):
    # Given no DATABASE_URL
    # When Django starts
    report = settings_of(tmp_path)
    # Then the database is a SQLite file in RHYTHMIC_VAR_DIR (Django's backend, with rhythmic/db/sqlite3's changes)
    assert report["engine"] == "rhythmic.db.sqlite3"
    assert report["name"] == str(tmp_path / "rhythmic.sqlite3")


def test_a_postgres_database_url_selects_postgres(tmp_path):
    # Given a postgres:// DATABASE_URL (nothing connects at setup)
    # When Django starts
    report = settings_of(tmp_path, DATABASE_URL="postgres://rhythmic@db.invalid:5432/rhythmic")
    # Then the engine is PostgreSQL (Django's, with a health check that costs no round trip) with that database name
    assert report["engine"] == "rhythmic.db.postgresql"
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


def test_without_a_broker_a_queued_task_runs_inline_without_a_broker_connection_warning(tmp_path):
    # Given neither REDIS_URL nor CELERY_BROKER_URL (the CLI's and make run's default)
    script = (
        "import django\ndjango.setup()\nfrom rhythmic.celery import app\n"
        "@app.task\ndef double(x):\n    return 2 * x\n"
        "print(double.delay(21).get())\n"
    )
    environment = {key: value for key, value in os.environ.items() if key not in CONTROLLED}
    environment.update(DJANGO_SETTINGS_MODULE="rhythmic.settings", RHYTHMIC_VAR_DIR=str(tmp_path))
    # When a task is queued
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    # Then it runs inline, and kombu says nothing about a broker host (none is used)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["42"]
    assert "kombu" not in result.stderr, result.stderr


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


@pytest.mark.parametrize(("name", "value"), [("RHYTHMIC_MAX_LOADED_MODELS", "-1"), ("RHYTHMIC_MAX_LOADED_MB", "-0.5")])
def test_a_negative_loaded_model_budget_refuses_to_start(tmp_path, name, value):
    # Given a negative count or memory budget for the loaded replicas
    # When Django starts
    result = start(tmp_path, **{name: value})
    # Then it stops, naming the setting and its value
    assert result.returncode != 0
    assert f"{name}={value} is negative; 0 turns the bound off" in result.stderr


def test_loaded_model_budgets_of_zero_or_more_are_accepted(tmp_path):
    assert settings_of(tmp_path, RHYTHMIC_MAX_LOADED_MODELS="0", RHYTHMIC_MAX_LOADED_MB="0")["engine"].endswith(
        "sqlite3"
    )
    assert settings_of(tmp_path, RHYTHMIC_MAX_LOADED_MODELS="10", RHYTHMIC_MAX_LOADED_MB="0.5")["debug"] is True
