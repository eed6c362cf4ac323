#!/usr/bin/env bash
# Run the app: sets up .venv on first use, builds the demo corpus into an empty data
# directory (or rebuilds an outdated, untouched one), then serves the Streamlit app
# (default http://localhost:8501).
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh requirements.txt
# The demo: built into an empty data directory, rebuilt when it is another release's demo
# that holds no labels or annotations (the old one is moved aside). The first-run demo never
# waits for a CLIP download; the app itself may fetch weights (VA_ENCODER=auto/clip, online)
# for a corpus that needs them.
HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" .venv/bin/python -m va_app demo --first-run
exec .venv/bin/python -m streamlit run app.py --browser.gatherUsageStats false "$@"
