#!/usr/bin/env bash
# Create .venv (Python 3.11) if missing and install the requirements, only when they changed.
#   scripts/setup.sh run   -> requirements.txt
#   scripts/setup.sh dev   -> requirements-dev.txt (tests and lint tools on top)
set -euo pipefail
cd "$(dirname "$0")/.."

kind="${1:-run}"
case "$kind" in
  run) files=(requirements.txt) ;;
  dev) files=(requirements.txt requirements-dev.txt) ;;
  *) echo "usage: $0 run|dev" >&2; exit 2 ;;
esac

PYTHON="${PYTHON:-python3.11}"
VENV="${VENV:-.venv}"

if [ ! -x "$VENV/bin/python" ]; then
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON not found. Rhythmic needs Python 3.11: install it, or point PYTHON=/path/to/python3.11." >&2
    exit 1
  fi
  echo "==> creating $VENV with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi

# The stamp holds a hash of the requirement files: a changed file (edit, pull, checkout) reinstalls.
stamp="$VENV/.rhythmic-requirements-$kind"
wanted="$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
  echo "==> installing ${files[-1]} into $VENV (once per change of the requirements)"
  # This machine's pip config names optional local indexes that may be absent: drop those warnings only.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "${files[-1]}" \
    2> >(grep -v "^WARNING: Location 'file:" >&2)
  echo "$wanted" >"$stamp"
fi
