"""A real `celery -A rhythmic worker` process on its own queue, using the test database and the test Redis."""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.db import connection

from rhythmic.celery import app as celery_app
from tests.conftest import is_postgres

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """DATABASE_URL of the database this test runs on (pytest-django's test_<name>), for a subprocess."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """One worker process consuming only ``queue``; its log is kept for failure messages."""

    def __init__(self, queue: str, env: dict, log_path: Path):
        self.queue = queue
        self.log_path = log_path
        log = log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "rhythmic",
                "worker",
                "--loglevel",
                "info",
                "--pool",
                "solo",
                "--queues",
                queue,
                "--hostname",
                f"{queue}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def assert_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def celery_worker(transactional_db, tmp_path, monkeypatch):
    """A running worker; tasks queued by this test go to its private queue, not to the eager runner.

    Needs Postgres (the worker must see the test database; SQLite's is in memory) and REDIS_URL.
    """
    if not os.environ.get("REDIS_URL") and not os.environ.get("CELERY_BROKER_URL"):
        pytest.skip("needs a broker: set REDIS_URL=redis://127.0.0.1:6379/0")
    if not is_postgres():
        pytest.skip("the worker must share the test database: set DATABASE_URL=postgres://...")
    queue = f"rhythmic-test-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "DJANGO_SETTINGS_MODULE": "rhythmic.settings",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONUNBUFFERED": "1",
    }
    worker = Worker(queue, env, tmp_path / "worker.log")
    # tests/conftest.py makes tasks run inline; this test wants them on the broker, on the worker's queue.
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    from catalogue.tasks import validate_version

    monkeypatch.setattr(validate_version, "delay", lambda *args: validate_version.apply_async(args, queue=queue))
    yield worker
    celery_app.conf.task_always_eager = previous
    worker.stop()
    # The private queue's bookkeeping keys would otherwise pile up in Redis, two per run.
    if str(celery_app.conf.broker_url).startswith(("redis://", "rediss://")):
        broker = redis.Redis.from_url(celery_app.conf.broker_url)
        broker.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        broker.close()
