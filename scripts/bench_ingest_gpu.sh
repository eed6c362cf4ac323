#!/usr/bin/env bash
# The ingest benchmark on a GPU machine: CLIP on CUDA, and the Ray runner with an actor pool of
# GPU encoders (one actor per GPU Ray finds), beside serial and the local process pool.
#
# Usage: scripts/bench_ingest_gpu.sh [OUT_DIR]            (default data/bench-gpu)
#   SHOTS=2000             shots of rendered demo movies to ingest
#   WORKERS=$(nproc)       pool processes / CPUs of the local Ray for decoding and detection
#   RUNNERS=serial,pool,ray
#   VA_CLIP_MODEL / VA_CLIP_PRETRAINED   the CLIP to time (default: ViT-B-32, random weights —
#                          the same compute as real ones); VA_BATCH_SIZE (default 256)
#   RAY_ADDRESS_ARG="--ray-address auto"  time the ray runner on a running cluster instead
# Writes OUT_DIR/bench_ingest_gpu.json (the figures) and prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-data/bench-gpu}"
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || { scripts/bootstrap.sh; PY=.venv/bin/python; }
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "error: torch sees no CUDA device here (check nvidia-smi and that pip took PyPI's CUDA" \
       "build of torch, see README 'Install notes')" >&2
  exit 1
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
mkdir -p "$OUT"
export VA_DEVICE=cuda VA_BATCH_SIZE="${VA_BATCH_SIZE:-256}"
# shellcheck disable=SC2086  # RAY_ADDRESS_ARG is two words on purpose
"$PY" -m va_app bench --ingest --encoder clip --json \
  --ingest-shots "${SHOTS:-2000}" --workers "${WORKERS:-$(nproc)}" \
  --runners "${RUNNERS:-serial,pool,ray}" ${RAY_ADDRESS_ARG:-} \
  --work-dir "$OUT" --data-dir "$OUT/data" | tee "$OUT/bench_ingest_gpu.json"
