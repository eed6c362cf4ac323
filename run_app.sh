#!/usr/bin/env bash
# Run the app: sets up .venv on first use, builds the demo corpus into an empty data
# directory, then serves the Streamlit app (default http://localhost:8501).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh requirements.txt
if .venv/bin/python -c 'from va_app.config import Settings; from va_app.services.workspace import corpus_is_empty; raise SystemExit(0 if corpus_is_empty(Settings.from_env()) else 1)'; then
  echo "empty data directory: building the demo corpus first ..." >&2
  # The first-run demo never waits for a CLIP download; the app itself may fetch weights
  # (VA_ENCODER=auto/clip, online) for a corpus that needs them.
  HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" .venv/bin/python -m va_app demo
fi
exec .venv/bin/python -m streamlit run app.py --browser.gatherUsageStats false "$@"
