# Rhythmic: two commands. `make run` serves the system; `make test` lints and runs the tests.
# HOST/PORT override where `make run` listens; PYTEST_ARGS passes arguments to pytest.
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
export HOST PORT

.PHONY: run test setup setup-dev lint format worker topology bench help

help:
	@echo "make run     set up .venv, migrate, create the demo user and token, serve on http://$(HOST):$(PORT)/"
	@echo "make test    set up .venv with the dev tools, ruff check + format --check, lint-imports, pytest"
	@echo "make lint    ruff check, ruff format --check and lint-imports only"
	@echo "make format  ruff format and ruff check --fix"
	@echo "make topology  production topology on HOST:PORT: nginx -> gunicorn (REST) + daphne (WebSockets), Celery worker and beat (Postgres + Redis)"
	@echo "make bench   every benchmark with its baseline, embedded, then one table of issue 15's targets measured (BENCH_ARGS='--database-url postgres://...' for Postgres, adding pg_pairs.py; see bench/README.md)"

run:
	@scripts/run.sh

test:
	@scripts/test.sh $(PYTEST_ARGS)

setup:
	@scripts/setup.sh run

setup-dev:
	@scripts/setup.sh dev

lint: setup-dev
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports --no-cache

format: setup-dev
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

worker: setup
	.venv/bin/celery -A rhythmic worker -l info

topology:
	@scripts/topology.sh

# Every bench script on the embedded default; BENCH_ARGS="--database-url postgres://..." runs them on Postgres
# (bench/http_pairs.py then adds the production topology, and bench/pg_pairs.py runs too: PG_PAIRS_ARGS for its
# own options, e.g. --redis-url; --stack gunicorn without nginx). Each script appends the issue 15 targets it
# measured to BENCH_TARGETS (common.target); bench/targets.py prints them all as one table at the end.
BENCH_ARGS ?=
BENCH_TARGETS ?= var/bench-targets.jsonl
PG_PAIRS_ARGS ?= $(if $(shell command -v nginx),,--stack gunicorn)
bench: export RHYTHMIC_BENCH_TARGETS := $(abspath $(BENCH_TARGETS))
bench: setup-dev
	.venv/bin/python bench/targets.py --clear $(BENCH_TARGETS)
	.venv/bin/python bench/river_floor.py $(BENCH_ARGS)
	.venv/bin/python bench/http_pairs.py $(BENCH_ARGS)
	.venv/bin/python bench/batch.py $(BENCH_ARGS)
	.venv/bin/python bench/batch_cpu.py $(BENCH_ARGS)
	.venv/bin/python bench/many_models.py $(BENCH_ARGS)
	.venv/bin/python bench/request_path.py $(BENCH_ARGS)
	.venv/bin/python bench/round_trips.py $(BENCH_ARGS)
	.venv/bin/python bench/lifecycle.py $(BENCH_ARGS)
	.venv/bin/python bench/deploy_switch.py $(BENCH_ARGS)
	.venv/bin/python bench/instances.py $(BENCH_ARGS)
	.venv/bin/python bench/websocket.py $(BENCH_ARGS)
	.venv/bin/python bench/chantilly.py $(BENCH_ARGS)
	$(if $(findstring postgres,$(BENCH_ARGS)),.venv/bin/python bench/pg_pairs.py $(BENCH_ARGS) $(PG_PAIRS_ARGS))
	.venv/bin/python bench/stacks.py --rounds 3
	.venv/bin/python bench/targets.py $(BENCH_TARGETS)
