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
from river import anomaly, reco, time_series
from schemathesis.checks import not_a_server_error

from tests import factories
from tests.conftest import ALL_PERMISSIONS, is_postgres
from tests.processes.conftest import ROOT, Server, database_url

pytestmark = pytest.mark.slow

# Generated cases per operation, mode and target: about two minutes for the whole schema on two shared cores.
EXAMPLES = int(os.environ.get("RHYTHMIC_FUZZ_EXAMPLES", "20"))
OPERATOR = """
from rest_framework.authtoken.models import Token
from river import anomaly, reco, time_series

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
    try:
        values = seed(server.url, key)
        yield server.url, key, server.log_path, values
    finally:
        server.stop()


LIVE = "fuzz"  # a model with a production version (and a pipeline over it), so generated requests reach predict...
SCORER = "fuzz-scorer"  # the anomaly scorer the pipeline's first stage is
RECOMMENDER = "fuzz-films"  # a live recommender, so rank's generated requests reach rank (not wrong_flavor)
FORECASTER = "fuzz-sales"  # a live forecaster, so predict's generated horizons reach forecast
#: The operations also run on the recommender and the forecaster: their flavor reads the body otherwise.
FLAVORED = ("/predict", "/learn", "/predict-many", "/learn-many")
DATASET_CSV = b"x,y\n1.0,2.0\n2.5,3.5\n"


def seed(url: str, key: str) -> dict[str, str]:
    """Live models of several flavors, a two-stage pipeline over two of them and a dataset; its path values."""
    headers = {"Authorization": f"Token {key}"}
    api = f"{url}/api/v1/models/"

    def live(name: str, flavor: str, obj, options: dict | None = None) -> list:
        body = {"name": name, "flavor": flavor, **({"options": options} if options else {})}
        return [
            requests.post(api, json=body, headers=headers, timeout=30),
            requests.post(
                f"{api}{name}/versions/",
                data=factories.artifact_bytes(obj),
                headers={**headers, "Content-Type": "application/octet-stream"},
                timeout=60,
            ),
            requests.post(f"{api}{name}/versions/1/promote", json={}, headers=headers, timeout=30),
        ]

    def post(route: str, body: dict) -> requests.Response:
        return requests.post(f"{url}/api/v1/{route}", json=body, headers=headers, timeout=30)

    stages = [{"model": SCORER, "as": "anomaly_score"}, {"model": LIVE}]
    steps = [
        *live(LIVE, "regression", None),
        *live(SCORER, "anomaly", anomaly.HalfSpaceTrees(seed=42)),
        *live(RECOMMENDER, "recommendation", reco.Baseline()),
        *live(FORECASTER, "forecasting", time_series.SNARIMAX(p=1, d=0, q=0), {"horizon": 3}),
        post(f"models/{LIVE}/predict", {"id": 1, "features": {"x": 1.0}}),
        post(f"models/{RECOMMENDER}/learn", {"features": {"user": "ann", "item": "alien"}, "ground_truth": 5}),
        *[post(f"models/{FORECASTER}/learn", {"ground_truth": float(y)}) for y in (3, 1, 4, 1, 5, 9, 2, 6)],
        # A pipeline of the same name, an anomaly scorer feeding the live model, so its routes reach predict too
        post("pipelines/", {"name": LIVE, "stages": stages}),
        post(f"pipelines/{LIVE}/predict", {"id": 1, "features": {"x": 1.0}}),
    ]
    for response in steps:
        assert response.status_code < 300, response.text
    dataset = requests.post(
        f"{url}/api/v1/datasets/",
        data={"name": "fuzz", "target": "y"},
        files={"file": ("fuzz.csv", DATASET_CSV, "text/csv")},
        headers=headers,
        timeout=30,
    )
    assert dataset.status_code == 201, dataset.text
    # The server registered itself as a production instance (by then its first beat has long been written)
    instances = requests.get(f"{url}/api/v1/instances/", headers=headers, timeout=30).json()["results"]
    assert instances, "the server registered no production instance"
    return {"name": LIVE, "number": "1", "id": str(dataset.json()["id"]), "key": instances[0]["key"]}


def pinned(case, values: dict[str, str], name: str):
    """The case, on the live model (``name``), its version 1, the seeded dataset and the server's instance instead
    of generated values that match nothing."""
    for key, value in {**values, "name": name}.items():
        if key in (case.path_parameters or {}):
            case.path_parameters[key] = value
    return case


def live_names(path: str) -> list[str]:
    """The live objects an operation on ``path`` runs on: rank on the recommender, the flavored routes on every
    flavor's model, the rest on the regression model (and the pipeline of the same name)."""
    if path.endswith("/rank"):
        return [RECOMMENDER]
    if path.startswith("/api/v1/models/") and path.endswith(FLAVORED):
        return [LIVE, RECOMMENDER, FORECASTER]
    return [LIVE]


# Server-sent event streams never end: a request would wait for its whole timeout (tests/monitoring/test_sse.py).
STREAMS = "^/api/stream/"


def operations(url: str) -> list:
    schema = schemathesis.openapi.from_url(f"{url}/api/schema/?format=json")
    return [result.ok() for result in schema.exclude(path_regex=STREAMS).get_all_operations()]


def test_schemathesis_finds_no_server_error(live_api):
    # Its own runner, as `schemathesis run`: the coverage phase sends each parameter's boundary and wrong-typed
    # values (huge numbers, NUL characters, missing and extra fields), the fuzzing phase random ones.
    url, key, log_path, _ = live_api
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


def test_generated_requests_on_live_objects_get_no_server_error(live_api):
    # Generated names match no model: here each operation on a model, a pipeline or a dataset runs on a live one
    # too, so requests reach predict, learn, rank, promote, a pipeline's stages, a dataset's preview...
    # (schemathesis' pytest loader does not run under pytest 9: Hypothesis drives each operation's strategy, and
    # every operation runs even after another one failed).
    url, key, log_path, values = live_api
    session = requests.Session()
    session.headers["Authorization"] = f"Token {key}"
    failures: list[str] = []
    calls: dict[str, int] = {}
    found = operations(url)
    assert len(found) > 30, [f"{o.method} {o.path}" for o in found]  # the schema lists every route
    # Every operation on a live object but its deletes (the objects must stay for the next operations)
    targets = [
        (operation, name)
        for operation in found
        if any(f"{{{p}}}" in operation.path for p in ("name", "id", "key")) and operation.method.upper() != "DELETE"
        for name in live_names(operation.path)
    ]
    assert {
        "/api/v1/models/{name}/rank",
        "/api/v1/pipelines/{name}/learn",
        "/api/v1/datasets/{id}/",
        "/api/v1/instances/{key}/",
    } <= {operation.path for operation, _ in targets}

    for operation, name in targets:

        @given(case=operation.as_strategy().map(lambda case, name=name: pinned(case, values, name)))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,  # the same cases on every run
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failing case is reported
        )
        def check(case):
            label = f"{case.operation.label} on {name}"  # noqa: B023 (check runs in this iteration)
            calls[label] = calls.get(label, 0) + 1
            case.call_and_validate(base_url=url, session=session, checks=[not_a_server_error], timeout=30)

        try:
            check()
        except Exception as exc:  # a failing check, or the server dropping the connection
            failures.append(f"{operation.method.upper()} {operation.path} on {name}: {str(exc)[:1500]}")
    session.close()
    assert set(calls) == {f"{operation.label} on {name}" for operation, name in targets}  # every one was called
    assert not failures, "\n\n".join(failures) + "\n\nserver log:\n" + log_path.read_text()[-5000:]
