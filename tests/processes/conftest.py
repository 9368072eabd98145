"""Real server processes sharing the test database (Postgres: SQLite's test database is in memory).

By default a server is what `make run` starts (``python -m rhythmic.serve``: uvicorn with rhythmic.onesite);
``stack="daphne"`` or ``stack="gunicorn"`` start the production topology's ASGI or WSGI server instead."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from tests import factories
from tests.conftest import ALL_PERMISSIONS, is_postgres

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Server:
    """One server process on its own port: `make run`'s (``stack="run"``), daphne, or one gunicorn worker."""

    def __init__(
        self, env: dict, log_path: Path, *, wsgi: bool = False, ready_path: str = "/healthz", stack: str = "run"
    ):
        self.port = free_port()
        self.env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.ready_path = ready_path
        self.stack = "gunicorn" if wsgi else stack
        if self.stack == "gunicorn":
            self.argv = ["gunicorn", "rhythmic.wsgi:application", "--bind", f"127.0.0.1:{self.port}", "--workers", "1"]
            self.argv += ["--worker-class", "gthread", "--threads", "1"]
        elif self.stack == "daphne":
            self.argv = ["daphne", "-b", "127.0.0.1", "-p", str(self.port), "rhythmic.asgi:application"]
        else:
            self.argv = ["rhythmic.serve"]

    def start(self, timeout: float = 30.0) -> "Server":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", *self.argv],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(self.url + self.ready_path, timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.05)  # nothing to await: the port opens when the server is ready
        raise RuntimeError(f"the server did not answer within {timeout} s:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_server(transactional_db, tmp_path):
    """start_server(**env) -> a running Server on the test database; all are stopped at the end."""
    if not is_postgres():
        pytest.skip("server processes share one database: run with DATABASE_URL=postgres://...")
    servers: list[Server] = []
    base_env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "rhythmic.settings",
        "RHYTHMIC_LOG_LEVEL": "WARNING",
    }

    def start(stack: str = "run", **extra_env: str) -> Server:
        server = Server({**base_env, **extra_env}, tmp_path / f"server-{len(servers)}.log", stack=stack)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def sqlite_site(tmp_path_factory):
    """(`make run`'s server on a freshly migrated SQLite file of its own, manage(*args) -> stdout on that database).

    For what needs a real server but no shared data (close frames, the README's examples as a new user runs
    them): it runs on either test database, and the module's tests share it."""
    folder = tmp_path_factory.mktemp("site")
    env = {
        **{key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "CELERY_BROKER_URL")},
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "rhythmic.settings",
        "RHYTHMIC_LOG_LEVEL": "WARNING",
        "RHYTHMIC_VAR_DIR": str(folder),
    }

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    server = Server(env, folder / "server.log").start()
    yield server, manage
    server.stop()


@pytest.fixture
def api(transactional_db) -> requests.Session:
    """A keep-alive HTTP session with the token of a user who may do everything."""
    user = factories.UserFactory(username="operator", permissions=ALL_PERMISSIONS)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    yield session
    session.close()
