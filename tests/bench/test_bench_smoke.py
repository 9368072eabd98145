"""Every bench script runs end to end with tiny sizes and prints its figures (figures are not asserted).

On Postgres (DATABASE_URL=postgres://...) the HTTP bench also starts the production topology (nginx,
gunicorn workers, daphne, Celery worker and beat) on a database of its own.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
UNAVAILABLE = 3  # bench/chantilly.py: chantilly could not be installed from PyPI


def bench_database_url() -> str:
    """A Postgres database of the bench's own next to the test run's, or "" on the embedded default."""
    url = os.environ.get("DATABASE_URL", "")
    return f"{url}_benchsmoke" if url.startswith("postgres") else ""


def run_bench(script: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_ran(out: subprocess.CompletedProcess, *expected: str) -> None:
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    for line in expected:
        assert line in out.stdout, out.stdout


def test_the_river_floor_prints_pairs_per_second():
    assert_ran(run_bench("river_floor.py", "--pairs", "100"), "river predict_one + learn_one")


def test_the_serving_bench_prints_both_servers():
    out = run_bench("serving.py", "--pairs", "20")
    assert_ran(out, "gunicorn: HTTP predict+learn", "daphne: HTTP predict+learn")


def test_the_http_bench_prints_one_and_many_clients_with_identical_predictions():
    args = ["--pairs", "20", "--clients", "2", "--workers", "2"]
    database_url = bench_database_url()
    if database_url:
        # The embedded servers are the SQLite suite's part of this test.
        args += ["--database-url", database_url, "--no-embedded"]
    out = run_bench("http_pairs.py", *args)
    assert_ran(out, "2 clients", "predictions identical to river in-process: yes")
    assert "identical to river in-process: NO" not in out.stdout
    if database_url:
        assert "postgres, gunicorn x1: 2 clients" in out.stdout
        if shutil.which("nginx"):
            assert "topology (nginx, gunicorn x2): 2 clients" in out.stdout
    else:
        assert "embedded sqlite, make run: 2 clients" in out.stdout
        assert "embedded sqlite, gunicorn x1: 2 clients" in out.stdout


def test_the_batch_bench_prints_rows_per_second():
    out = run_bench("batch.py", "--rows", "100", "--batch", "20", "--single-rows", "10")
    assert_ran(out, "HTTP predict-many", "core learn_many in-process")


def test_the_many_models_bench_prints_memory_cold_and_warm_predicts_and_eviction():
    args = ["--models", "12", "--budget", "4", "--budget-mb", "0.05", "--learns", "6", "--tail", "2", "--warm", "50"]
    database_url = bench_database_url()
    if database_url:
        args += ["--database-url", database_url]
    out = run_bench("many_models.py", *args)
    assert_ran(out, "memory per loaded model", "cold model, first predict", "budget 4: predict (mostly reloads)")
    assert "predictions identical with and without eviction: yes" in out.stdout
    assert_ran(out, "budget 0.05 MiB: predict", "budget 0.05 MiB: RSS growth")
    assert "budget 0.05 MiB: predictions identical with and without eviction: yes" in out.stdout


def test_the_batch_cpu_bench_prints_cpu_time_per_row():
    out = run_bench("batch_cpu.py", "--rows", "40", "--batch", "20")
    assert_ran(out, "core learn_many by id", "core learn_many with features")


def test_the_lifecycle_bench_prints_each_case():
    out = run_bench("lifecycle.py", "--pairs", "60")
    assert_ran(out, "no challengers: predict(id) + learn(id)", "3 challengers: learn with features", "canary 50%")


def test_the_websocket_bench_prints_one_and_many_connections():
    args = ["--pairs", "60", "--batch", "10", "--connections", "2", "--single-pairs", "10"]
    out = run_bench("websocket.py", *args)
    assert_ran(out, "## serve", "## daphne", "1 connection, pipelined arrays", "2 connections", "mini-batches: yes")
    assert "mini-batches: NO" not in out.stdout


def test_the_chantilly_bench_prints_the_ratio():
    out = run_bench("chantilly.py", "--pairs", "20", timeout=900)
    if out.returncode == UNAVAILABLE:
        pytest.skip(f"chantilly 0.3.0 could not be installed from PyPI: {out.stdout.strip()[-300:]}")
    assert_ran(out, "chantilly 0.3.0 (flask, shelve)", "ratio (requests): Rhythmic / chantilly", "ratio (http.client)")


def test_the_stacks_bench_prints_each_stack_with_its_ratio():
    out = run_bench("stacks.py", "--pairs", "10", "--rounds", "1", "--stacks", "uvicorn-onesite,granian-wsgi")
    assert_ran(out, "uvicorn-onesite", "granian-wsgi", "per round pairs/s")


def test_the_request_path_bench_prints_each_case_against_django_s_handler():
    out = run_bench("request_path.py", "--pairs", "10", "--rounds", "2")
    assert_ran(out, "Django's WSGIHandler, DEBUG on (baseline)", "rhythmic.wsgi, DEBUG on (make run)", "/livez (floor)")


def test_the_deploy_switch_bench_prints_both_first_predicts():
    out = run_bench("deploy_switch.py", "--tail", "50", "--requests", "10")
    assert_ran(out, "promote (lazy load at request 1)", "deploy (pre-loaded before switch)", "p99 ratio")


def test_the_instances_bench_prints_a_beat_against_its_floor():
    out = run_bench("instances.py", "--beats", "3")
    assert_ran(out, "floor: connect, SELECT 1, close", "beat, 100 models loaded", "ratio to the floor")


def test_the_round_trips_bench_prints_statements_per_request():
    database_url = bench_database_url()
    out = run_bench("round_trips.py", "--pairs", "10", *(["--database-url", database_url] if database_url else []))
    assert_ran(out, "predict(id): ", "learn(id): ", "ms CPU in this process")
    if database_url:
        assert "round trips" in out.stdout and "WAL flushes" in out.stdout


def test_the_postgres_pairs_bench_prints_one_and_many_clients_against_a_baseline():
    database_url = bench_database_url()
    if not database_url:
        pytest.skip("the Postgres path needs DATABASE_URL=postgres://...")
    args = ["--pairs", "20", "--rounds", "1", "--clients", "2", "--stack", "gunicorn", "--baseline", "HEAD"]
    out = run_bench("pg_pairs.py", "--database-url", database_url, *args, timeout=900)
    assert_ran(out, "baseline HEAD", "this checkout", "ratio: this checkout / baseline, 1 client")
    assert " NO" not in out.stdout
