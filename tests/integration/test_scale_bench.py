"""``bench --scale N --json`` on a small corpus: every figure there, real processes sharing the
mapped file, and a float16 corpus agreeing with float32 (search and feeds)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = (
    "open_cold_s",
    "open_warm_s",
    "private_mb_per_process",
    "matrix_mb",
    "floor_ms_p50",
    "build_ms_p50",
    "search_exact_ms_p50",
    "recall_at_50",
    "borderline_overlap",
    "peak_rss_mb",
    "cold_cache",
)
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("precision", ["float32", "float16"])
def test_scale_bench_prints_every_figure_and_agrees_with_float32(tmp_path, precision):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "va_app",
            "bench",
            "--scale",
            "6000",
            "--dim",
            "48",
            "--matrix-precision",
            precision,
            "--work-dir",
            str(tmp_path),
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert all(name in result for name in FIGURES), sorted(result)
    assert result["scoring_copy"] == ("float16" if precision == "float16" else "none (float32)")
    assert result["recall_at_50"] >= 0.99 and result["top_feeds_identical"]
    assert result["borderline_overlap"] == 1.0
    assert result["cold_cache"]["resident_mb_after"] in (0.0, None)
    # Two processes at once, each after a full pass: the vectors are shared pages of the file.
    assert len(result["private_mb_per_process"]) == 2
    assert all(s > 0 for s in result["shared_mb_per_process"])
    assert result["open_cold_s"] > 0 and result["build_ms_p50"] > 0
