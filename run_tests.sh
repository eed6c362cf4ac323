#!/usr/bin/env bash
# Run the test suite: sets up .venv with the test extras and, for the browser tests, Debian's
# Chromium (apt, when run as root and it is missing). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh requirements-dev.txt
# Debian packages the suite runs for real: Chromium (browser tests) and a PostgreSQL server
# (the store tests run on SQLite and PostgreSQL; the suite starts a throw-away server itself).
MISSING=()
[ -x /usr/bin/chromium ] || MISSING+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || MISSING+=(postgresql)
if [ "${#MISSING[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${MISSING[*]} for the tests ..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${MISSING[@]}") >&2 \
    || echo "warning: ${MISSING[*]} could not be installed; those tests will be skipped" >&2
fi
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
