"""Browser tests: Debian's Chromium driven by Playwright against a real daphne server.

The server runs in its own process, so it needs a database it can see: on Postgres the test database
(flushed after each test), on SQLite a migrated file per test (copied from one migrated once per session).
Nothing here touches the ORM while the browser runs: Playwright's sync API keeps an event loop in this
thread, where Django refuses synchronous queries. Setup goes through `manage.py shell` in the server's
environment, checks go through the pages and the REST API.

On failure the page's screenshot and HTML and the server's log are saved under test-output/.
"""

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import is_postgres
from tests.processes.conftest import Server, database_url

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USERNAME = "pilot"
PASSWORD = "correct-horse-battery"
PERMISSIONS = [
    "add_mlmodel",
    "change_mlmodel",
    "delete_mlmodel",
    "add_modelversion",
    "change_modelversion",
    "infer_mlmodel",
    "add_location",
    "change_location",
    "add_dataset",
    "delete_dataset",
]

CREATE_USER = f"""
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
user = User.objects.create_user({USERNAME!r}, password={PASSWORD!r})
user.user_permissions.add(*Permission.objects.filter(codename__in={PERMISSIONS!r}))
print("TOKEN=" + Token.objects.create(user=user).key)
"""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(request) -> bool:
    return any(
        getattr(request.node, f"report_{when}", None) and getattr(request.node, f"report_{when}").failed
        for when in ("setup", "call")
    )


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -r requirements-dev.txt)"
    )
    return CHROMIUM


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path | None:
    """A migrated SQLite file to copy for each test (None on Postgres, which uses its test database)."""
    if is_postgres():
        return None
    path = tmp_path_factory.mktemp("browser-db") / "template.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}", "RHYTHMIC_LOG_LEVEL": "WARNING"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    return path


class Site:
    """The running server, its environment (for `manage.py shell`) and the API token of the test user."""

    def __init__(self, server: Server, env: dict):
        self.server = server
        self.url = server.url
        self.env = env
        self.token = ""
        self.api = requests.Session()

    def shell(self, code: str) -> str:
        """Run ``code`` in `manage.py shell` on the server's database; returns its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise AssertionError(f"manage.py shell failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def log(self) -> str:
        return self.server.log_path.read_text(errors="replace")


@pytest.fixture
def site(request, chromium_path, migrated_sqlite, tmp_path, transactional_db):
    """A daphne server on a database of its own for this test, with a user who may do everything."""
    if is_postgres():
        url = database_url()
    else:
        db = tmp_path / "db.sqlite3"
        shutil.copy(migrated_sqlite, db)
        url = f"sqlite:///{db}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "rhythmic.settings",
        "DJANGO_DEBUG": "1",
        "RHYTHMIC_LOG_LEVEL": "WARNING",
        # Validation runs inline in the upload request even where a broker is configured (CI's Redis).
        "CELERY_TASK_ALWAYS_EAGER": "1",
        # A channel-layer prefix of its own: parallel runs sharing one Redis do not hear each other.
        "RHYTHMIC_CHANNEL_PREFIX": f"browser-{uuid.uuid4().hex[:8]}",
    }
    server = Server(env, tmp_path / "server.log")
    site = Site(server, env)
    output = site.shell(CREATE_USER)
    site.token = re.search(r"TOKEN=(\w+)", output).group(1)
    site.api.headers["Authorization"] = f"Token {site.token}"
    server.start()
    yield site
    server.stop()
    site.api.close()
    if _failed(request):
        OUTPUT.mkdir(exist_ok=True)
        (OUTPUT / f"{request.node.name}.server.log").write_text(site.log())


@pytest.fixture
def page(request, site):
    """A Chromium page, logged in as the test user. Closed (and saved, on failure) before the server stops."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 860}, base_url=site.url)
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(site.url + "/")
        yield page
        if _failed(request):
            OUTPUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT / f"{request.node.name}.png"), full_page=True)
            (OUTPUT / f"{request.node.name}.html").write_text(page.content())
        browser.close()
