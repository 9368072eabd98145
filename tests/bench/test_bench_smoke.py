"""Every bench script runs end to end with tiny sizes and prints its figures (figures are not asserted), and the
scripts that measure one of issue 15's targets print its standard row and append it to RHYTHMIC_BENCH_TARGETS.

On Postgres (DATABASE_URL=postgres://...) the HTTP bench also starts the production topology (nginx,
gunicorn workers, daphne, Celery worker and beat) on a database of its own.
"""

import json
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


def run_bench(
    script: str, *args: str, timeout: float = 600, targets: Path | None = None
) -> subprocess.CompletedProcess:
    """The script's run; ``targets``: the file its target rows go to (RHYTHMIC_BENCH_TARGETS)."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.pop("RHYTHMIC_BENCH_TARGETS", None)
    if targets:
        env["RHYTHMIC_BENCH_TARGETS"] = str(targets)
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


def assert_targets(out: subprocess.CompletedProcess, targets: Path, script: str, *titles: str) -> list[dict]:
    """The script printed the standard table with a row per title, and appended the same rows to ``targets``."""
    assert "## targets" in out.stdout and "figure  baseline   ratio" in out.stdout, out.stdout
    rows = [json.loads(line) for line in targets.read_text().splitlines()]
    assert [row["title"] for row in rows] == list(titles)
    for row in rows:
        assert row["script"] == script
        assert set(row) >= {"figure", "baseline", "ratio", "bound", "met"}
        assert row["title"] in out.stdout
    return rows


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


def test_the_batch_bench_prints_rows_per_second_and_its_target(tmp_path):
    targets = tmp_path / "targets.jsonl"
    out = run_bench("batch.py", "--rows", "100", "--batch", "20", "--single-rows", "10", targets=targets)
    assert_ran(out, "HTTP predict-many", "core learn_many in-process")
    [row] = assert_targets(out, targets, "batch.py", "HTTP learn-many rows/s, embedded >= 20,000")
    assert row["bound"] == 20_000 and not row["relative"]
    # The appended row round-trips: bench/targets.py prints the line the bench printed.
    [printed] = [line for line in out.stdout.splitlines() if line.startswith("HTTP learn-many rows/s")]
    assert_ran(run_bench("targets.py", str(targets)), "## batch.py: ", printed)


def test_the_many_models_bench_prints_memory_cold_and_warm_predicts_and_eviction(tmp_path):
    args = ["--models", "12", "--budget", "4", "--budget-mb", "0.05", "--learns", "6", "--tail", "2", "--warm", "50"]
    database_url = bench_database_url()
    if database_url:
        args += ["--database-url", database_url]
    targets = tmp_path / "targets.jsonl"
    out = run_bench("many_models.py", *args, targets=targets)
    assert_ran(out, "memory per loaded model", "cold model, first predict", "budget 4: predict (mostly reloads)")
    assert "predictions identical with and without eviction: yes" in out.stdout
    assert_ran(out, "budget 0.05 MiB: predict", "budget 0.05 MiB: RSS growth")
    assert "budget 0.05 MiB: predictions identical with and without eviction: yes" in out.stdout
    rows = assert_targets(
        out,
        targets,
        "many_models.py",
        "many models: RSS per model KiB",
        "many models: Python heap per loaded model KiB",
        "many models: cold first predict p50 ms / one warm",
        "many models: warm predict p99 ms / one warm",
        "many models: budget 4 models, predict p99 ms / warm",
        "many models: budget 0.05 MiB, predict p99 ms / warm",
    )
    # Informational rows: no bound, met when eviction changed no prediction.
    assert all(row["bound"] is None and row["met"] for row in rows)


def test_the_batch_cpu_bench_prints_cpu_time_per_row():
    out = run_bench("batch_cpu.py", "--rows", "40", "--batch", "20")
    assert_ran(out, "core learn_many by id", "core learn_many with features")


def test_the_lifecycle_bench_prints_each_case():
    out = run_bench("lifecycle.py", "--pairs", "60")
    assert_ran(out, "no challengers: predict(id) + learn(id)", "3 challengers: learn with features", "canary 50%")


def test_the_websocket_bench_prints_one_and_many_connections_and_its_target(tmp_path):
    args = ["--pairs", "60", "--batch", "10", "--connections", "2", "--single-pairs", "10"]
    targets = tmp_path / "targets.jsonl"
    out = run_bench("websocket.py", *args, targets=targets)
    assert_ran(out, "## serve", "## daphne", "1 connection, pipelined arrays", "2 connections", "mini-batches: yes")
    assert "mini-batches: NO" not in out.stdout
    assert_targets(out, targets, "websocket.py", "WebSocket pairs/s, 1 connection, embedded >= 10,000")


def test_the_chantilly_bench_prints_the_ratio_and_issue_15_s_targets(tmp_path):
    targets = tmp_path / "targets.jsonl"
    out = run_bench("chantilly.py", "--pairs", "20", timeout=900, targets=targets)
    if out.returncode == UNAVAILABLE:
        pytest.skip(f"chantilly 0.3.0 could not be installed from PyPI: {out.stdout.strip()[-300:]}")
    assert_ran(out, "chantilly 0.3.0 (flask, shelve)", "ratio (requests): Rhythmic / chantilly", "ratio (http.client)")
    assert_targets(
        out,
        targets,
        "chantilly.py",
        "pairs/s, requests >= 2x chantilly",
        "pairs/s, http.client >= 4x chantilly",
        "server CPU ms/pair, requests <= 1/4",
        "server CPU ms/pair, http.client <= 1/4",
        "predict p99 ms, requests <= 5",
        "predict p99 ms, http.client <= 5",
        "predict p50 / trivial view p50 <= 1.5",
        "predict without id req/s >= 1500",
    )


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


def test_the_postgres_pairs_bench_prints_one_and_many_clients_against_a_baseline_and_its_targets(tmp_path):
    database_url = bench_database_url()
    if not database_url:
        pytest.skip("the Postgres path needs DATABASE_URL=postgres://...")
    args = ["--pairs", "20", "--rounds", "1", "--clients", "2", "--stack", "gunicorn", "--baseline", "HEAD"]
    targets = tmp_path / "targets.jsonl"
    out = run_bench("pg_pairs.py", "--database-url", database_url, *args, timeout=900, targets=targets)
    assert_ran(out, "baseline HEAD", "this checkout", "ratio: this checkout / baseline, 1 client")
    table = out.stdout.split("## targets")[0]  # tiny sizes miss the targets: only the predictions must agree
    assert " NO" not in table
    assert_targets(
        out,
        targets,
        "pg_pairs.py",
        "PostgreSQL pairs/s, 1 client >= 200",
        "PostgreSQL pairs/s, 2 clients >= 2x 1 client",
    )


def target_line(script, title, figure, baseline, bound, met, *, relative=True) -> str:
    """One JSON line as common.target appends it."""
    ratio = figure / baseline if baseline else None
    unit = "" if relative else "rows/s"
    row = {"script": script, "title": title, "figure": figure, "baseline": baseline, "ratio": ratio, "bound": bound}
    return json.dumps({**row, "relative": relative, "higher": True, "unit": unit, "met": met}) + "\n"


def test_the_targets_table_prints_every_row_grouped_by_script_with_the_met_counts(tmp_path):
    # Given rows two scripts appended: an absolute bound, a ratio bound, an informational row
    rows = [
        target_line("batch.py", "learn-many rows/s >= 20,000", 21015.0, 1743.0, 20000, True, relative=False),
        target_line("chantilly.py", "pairs/s >= 2x chantilly", 284.0, 161.0, 2.0, False),
        target_line("batch.py", "RSS per model KiB", 10.5, None, None, True),
    ]
    targets = tmp_path / "targets.jsonl"
    targets.write_text("".join(rows))

    # When the table is printed
    out = run_bench("targets.py", str(targets))

    # Then each script's rows come under its heading with its counts, the bounds as written, and the total
    assert_ran(
        out, "## batch.py: 2 met, 0 not met", "## chantilly.py: 0 met, 1 not met", "# 3 targets: 2 met, 1 not met"
    )
    lines = out.stdout.splitlines()
    batch, chantilly = lines.index("## batch.py: 2 met, 0 not met"), lines.index("## chantilly.py: 0 met, 1 not met")
    assert batch < chantilly
    assert [line.split()[:2] for line in lines[batch + 2 : chantilly]] == [["learn-many", "rows/s"], ["RSS", "per"]]
    assert ">= 20,000 rows/s  yes" in out.stdout and ">= 2x  NO" in out.stdout
    assert lines[chantilly + 2].startswith("pairs/s >= 2x chantilly")


def test_the_targets_table_clears_its_file_for_a_new_run(tmp_path):
    targets = tmp_path / "var" / "targets.jsonl"
    targets.parent.mkdir()
    targets.write_text('{"script": "batch.py"}\n')

    assert_ran(run_bench("targets.py", "--clear", str(targets)))

    assert not targets.exists()
    assert_ran(run_bench("targets.py", str(targets)), "no target measured")
