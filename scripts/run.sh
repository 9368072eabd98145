#!/usr/bin/env bash
# `make run`: set up, migrate, bootstrap the demo user, then serve on HOST:PORT (python -m rhythmic.serve: uvicorn
# with rhythmic/onesite.py, HTTP on persistent WSGI threads, WebSockets and SSE on its event loop; bench/README.md
# says why), plus a Celery worker when a broker is configured. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"

scripts/setup.sh run

echo "==> applying database migrations"
"$PY" manage.py migrate --noinput

case "${DJANGO_DEBUG:-1}" in
  0 | false | False | no | off)
    echo "==> collecting static files (DJANGO_DEBUG=0: whitenoise serves them from staticfiles/)"
    "$PY" manage.py collectstatic --noinput --verbosity 0
    ;;
esac

"$PY" manage.py bootstrap --url "http://$HOST:$PORT"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
# Ctrl-C is the normal way to stop: exit 0 then; TERM and crashes keep their non-zero status.
trap 'stop; exit 0' INT
trap stop TERM EXIT

if [ -n "${CELERY_BROKER_URL:-}${REDIS_URL:-}" ]; then
  echo "==> starting a Celery worker (broker: ${CELERY_BROKER_URL:-$REDIS_URL})"
  "$VENV/bin/celery" -A rhythmic worker -l info &
  pids+=($!)
else
  echo "==> no broker configured (CELERY_BROKER_URL/REDIS_URL unset): background tasks run inline, no worker needed"
fi

echo "==> serving on http://$HOST:$PORT/ (Ctrl-C to stop)"
HOST="$HOST" PORT="$PORT" "$PY" -m rhythmic.serve &
pids+=($!)

# Stop when any of them exits (or on Ctrl-C): a half-running system is worse than a stopped one.
status=0
wait -n "${pids[@]}" || status=$?
exit "$status"
