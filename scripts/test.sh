#!/usr/bin/env bash
# `make test`: set up the dev virtualenv, lint (ruff check, ruff format --check, lint-imports), then run pytest.
# Every step runs so one report shows all problems; the exit code is non-zero if any step failed.
# Extra arguments go to pytest, e.g. scripts/test.sh -k concurrency
set -uo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
scripts/setup.sh dev || exit 1

failed=()

echo "==> ruff check"
"$VENV/bin/ruff" check . || failed+=("ruff check")

echo "==> ruff format --check"
"$VENV/bin/ruff" format --check . || failed+=("ruff format --check (fix with: make format)")

echo "==> lint-imports (layers: api | dashboard -> monitoring -> serving -> catalogue)"
"$VENV/bin/lint-imports" --no-cache || failed+=("lint-imports")

echo "==> pytest (database: ${DATABASE_URL:-embedded SQLite}; redis: ${REDIS_URL:-none, tasks inline})"
"$VENV/bin/python" -m pytest "$@"
code=$?
if [ "$code" -eq 5 ]; then
  failed+=("pytest collected no tests (exit 5)")
elif [ "$code" -ne 0 ]; then
  failed+=("pytest (exit $code)")
fi

if [ "${#failed[@]}" -gt 0 ]; then
  printf '==> FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "==> all checks passed"
