#!/usr/bin/env bash
# `make topology`: the production topology on this machine, one address in front.
#   nginx on HOST:PORT  ->  /ws/, /api/stream/  -> daphne (ASGI, WebSockets and server-sent events)
#                       ->  everything else     -> gunicorn, WEB_CONCURRENCY workers (WSGI, the REST API)
#   plus a Celery worker and Celery beat; honcho runs them all from the Procfile and stops them together.
# Uses DATABASE_URL (Postgres) and REDIS_URL from the environment; unset, the local servers:
#   postgres://postgres@127.0.0.1:5432/rhythmic and redis://127.0.0.1:6379/0 (the database is created if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

export HOST="${HOST:-127.0.0.1}"
export PORT="${PORT:-8000}"
export WSGI_PORT="${WSGI_PORT:-$((PORT + 1))}"
export ASGI_PORT="${ASGI_PORT:-$((PORT + 2))}"
export WEB_CONCURRENCY="${WEB_CONCURRENCY:-4}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/rhythmic}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export TOPOLOGY_DIR="${TOPOLOGY_DIR:-$PWD/var/topology-$PORT}"
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"

case "$DATABASE_URL" in
  postgres*) ;;
  *) echo "error: the topology runs several server processes on one database: set DATABASE_URL=postgres://..." >&2; exit 2 ;;
esac
if ! command -v nginx >/dev/null 2>&1; then
  echo "error: nginx is not installed; install it (Debian: apt-get install -y nginx) or put another proxy in front" >&2
  echo "       of gunicorn (127.0.0.1:$WSGI_PORT) and daphne (127.0.0.1:$ASGI_PORT, for /ws/ and /api/stream/)" >&2
  exit 2
fi

scripts/setup.sh run
export PATH="$PWD/$VENV/bin:$PATH"

echo "==> database $DATABASE_URL, redis $REDIS_URL"
"$PY" - <<'EOF'
import os
import psycopg
base, _, name = os.environ["DATABASE_URL"].rpartition("/")
with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
    if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        connection.execute(f'CREATE DATABASE "{name}"')
        print(f"created database {name}")
EOF
"$PY" manage.py migrate --noinput
case "${DJANGO_DEBUG:-1}" in
  0 | false | False | no | off) "$PY" manage.py collectstatic --noinput --verbosity 0 ;;
esac
"$PY" manage.py bootstrap --url "http://$HOST:$PORT"

# One Prometheus directory for every process of the host, emptied at start (stale files would add up);
# one given in the environment is used as it is.
if [ -z "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  export PROMETHEUS_MULTIPROC_DIR="$TOPOLOGY_DIR/prometheus"
  rm -rf "$PROMETHEUS_MULTIPROC_DIR"
fi
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

echo "==> nginx on http://$HOST:$PORT -> gunicorn x$WEB_CONCURRENCY on :$WSGI_PORT, daphne on :$ASGI_PORT"
mkdir -p "$TOPOLOGY_DIR"/nginx-{body,proxy,fastcgi,uwsgi,scgi}
# nginx's workers drop root for "nobody": let them write their temporary files.
chmod 1777 "$TOPOLOGY_DIR"/nginx-{body,proxy,fastcgi,uwsgi,scgi}
"$PY" - deploy/nginx.conf "$TOPOLOGY_DIR/nginx.conf" <<'EOF'
import os, string, sys
keys = ("TOPOLOGY_DIR", "WSGI_PORT", "ASGI_PORT", "HOST", "PORT")
text = string.Template(open(sys.argv[1]).read()).safe_substitute({key: os.environ[key] for key in keys})
open(sys.argv[2], "w").write(text)
EOF
nginx -t -q -p "$TOPOLOGY_DIR" -c "$TOPOLOGY_DIR/nginx.conf" -g 'daemon off;'

exec honcho start --no-colour --procfile Procfile --app-root "$PWD"
