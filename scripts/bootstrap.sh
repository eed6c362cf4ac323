#!/usr/bin/env bash
# Create or reuse .venv and install what is missing. Usage: scripts/bootstrap.sh [requirements file]
# Re-installs only when the requirements files change (a stamp holds their checksum).
set -euo pipefail
cd "$(dirname "$0")/.."
REQ="${1:-requirements.txt}"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11+ is needed (found: $("$PYTHON" --version 2>&1))" >&2; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv ..." >&2
  "$PYTHON" -m venv .venv
fi
STAMP=".venv/.installed-$(basename "$REQ")"
SUM="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$SUM" ]; then
  echo "installing $REQ into .venv (first time: a few minutes; torch is large) ..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip >&2
  .venv/bin/python -m pip install --quiet -r "$REQ" >&2
  echo "$SUM" > "$STAMP"
fi
