"""schemathesis over the OpenAPI schema of a real server process: no request it generates gets a 5xx.

The server is daphne on a free port, on the test database (Postgres) or on a fresh SQLite file (the test
database of SQLite is in memory), with tasks inline; requests carry the token of a user holding every
permission, so the fuzzer reaches the views' code and not only the permission checks.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from tests import factories
from tests.conftest import ALL_PERMISSIONS, is_postgres
from tests.processes.conftest import ROOT, Server, database_url

pytestmark = pytest.mark.slow

# Generated cases per operation, mode and target: about two minutes for the whole schema on two shared cores.
EXAMPLES = int(os.environ.get("RHYTHMIC_FUZZ_EXAMPLES", "20"))
OPERATOR = """
from rest_framework.authtoken.models import Token
from tests import factories
from tests.conftest import ALL_PERMISSIONS
user = factories.UserFactory(username="operator", permissions=ALL_PERMISSIONS)
print(Token.objects.create(user=user).key)
"""


@pytest.fixture
def live_api(transactional_db, tmp_path):
    """(base URL, token, log path) of a running server; on Postgres, transactional_db flushes its data after."""
    tmp = tmp_path
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rhythmic.settings",
        "RHYTHMIC_LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "1",  # validation runs in the server: nothing left queued for a worker
    }
    if is_postgres():
        env["DATABASE_URL"] = database_url()
        user = factories.UserFactory(username="operator", permissions=ALL_PERMISSIONS)
        key = Token.objects.create(user=user).key
    else:
        env.pop("DATABASE_URL", None)
        env["RHYTHMIC_VAR_DIR"] = str(tmp)
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        shell = subprocess.run([*manage, "shell", "-c", OPERATOR], cwd=ROOT, env=env, check=True, capture_output=True)
        key = shell.stdout.decode().split()[-1]
    server = Server(env, tmp / "server.log").start()
    seed(server.url, key)
    try:
        yield server.url, key, server.log_path
    finally:
        server.stop()


LIVE = "fuzz"  # a model with a production version (and a pipeline over it), so generated requests reach predict...


def seed(url: str, key: str) -> None:
    headers = {"Authorization": f"Token {key}"}
    api = f"{url}/api/v1/models/"
    steps = [
        requests.post(api, json={"name": LIVE, "flavor": "regression"}, headers=headers, timeout=30),
        requests.post(
            f"{api}{LIVE}/versions/",
            data=factories.artifact_bytes(),
            headers={**headers, "Content-Type": "application/octet-stream"},
            timeout=60,
        ),
        requests.post(f"{api}{LIVE}/versions/1/promote", json={}, headers=headers, timeout=30),
        requests.post(f"{api}{LIVE}/predict", json={"id": 1, "features": {"x": 1.0}}, headers=headers, timeout=30),
        # A pipeline of the same name over the live model, so the pipeline routes reach predict and learn too
        requests.post(
            f"{url}/api/v1/pipelines/", json={"name": LIVE, "stages": [{"model": LIVE}]}, headers=headers, timeout=30
        ),
        requests.post(
            f"{url}/api/v1/pipelines/{LIVE}/predict",
            json={"id": 1, "features": {"x": 1.0}},
            headers=headers,
            timeout=30,
        ),
    ]
    for response in steps:
        assert response.status_code < 300, response.text


def pinned(case):
    """The case, on the live model (and its version 1) instead of a generated name that matches nothing."""
    for name, value in (("name", LIVE), ("number", "1")):
        if name in (case.path_parameters or {}):
            case.path_parameters[name] = value
    return case


# Server-sent event streams never end: a request would wait for its whole timeout (tests/monitoring/test_sse.py).
STREAMS = "^/api/stream/"


def operations(url: str) -> list:
    schema = schemathesis.openapi.from_url(f"{url}/api/schema/?format=json")
    return [result.ok() for result in schema.exclude(path_regex=STREAMS).get_all_operations()]


def test_schemathesis_finds_no_server_error(live_api):
    # Its own runner, as `schemathesis run`: the coverage phase sends each parameter's boundary and wrong-typed
    # values (huge numbers, NUL characters, missing and extra fields), the fuzzing phase random ones.
    url, key, log_path = live_api
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/api/schema/?format=json",
        "--url",
        url,
        "--header",
        f"Authorization: Token {key}",
        "--checks",
        "not_a_server_error",
        "--exclude-path-regex",
        STREAMS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "1",  # the same cases on every run: a failure reproduces, CI does not flicker
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--continue-on-failure",
        "--no-color",
    ]
    # cwd: the run keeps its case database (.schemathesis/) beside the server log, not in the project
    run = subprocess.run(command, cwd=log_path.parent, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (
        run.stdout[-12000:] + run.stderr[-3000:] + "\nserver log:\n" + log_path.read_text()[-5000:]
    )


def test_generated_requests_on_a_live_model_get_no_server_error(live_api):
    # Generated names match no model: here each operation on a model runs on the live one too, so requests
    # reach predict, learn, promote... (schemathesis' pytest loader does not run under pytest 9: Hypothesis
    # drives each operation's strategy, and every operation runs even after another one failed).
    url, key, log_path = live_api
    session = requests.Session()
    session.headers["Authorization"] = f"Token {key}"
    failures: list[str] = []
    calls: dict[str, int] = {}
    found = operations(url)
    assert len(found) > 30, [f"{o.method} {o.path}" for o in found]  # the schema lists every route
    targets = [o for o in found if "{name}" in o.path and o.method.upper() != "DELETE"]  # keep the live model

    for operation in targets:

        @given(case=operation.as_strategy().map(pinned))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,  # the same cases on every run
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failing case is reported
        )
        def check(case):
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
            case.call_and_validate(base_url=url, session=session, checks=[not_a_server_error], timeout=30)

        try:
            check()
        except Exception as exc:  # a failing check, or the server dropping the connection
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    session.close()
    assert set(calls) == {operation.label for operation in targets}  # every operation was called
    assert not failures, "\n\n".join(failures) + "\n\nserver log:\n" + log_path.read_text()[-5000:]
