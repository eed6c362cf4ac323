"""``bench --load`` runs end to end: a real server, a Chromium page and ticket per annotator,
decisions confirmed, nothing lost or doubled (a small run: the figures come from the bench)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import BROWSER_TESTS

pytestmark = BROWSER_TESTS
ROOT = Path(__file__).resolve().parents[2]


def test_two_annotators_for_a_few_seconds_lose_and_double_nothing(e2e_demo_template, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "va_app",
            "bench",
            "--load",
            "--annotators",
            "2",
            "--minutes",
            "0.1",
            "--backends",
            "sqlite",
            "--json",
            "--data-dir",
            str(e2e_demo_template),
            "--work-dir",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "VA_ENCODER": "descriptor"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert result["backend"] == "sqlite" and result["annotators"] == 2
    assert result["decisions"] > 0 and result["errors"] == 0
    assert result["lost"] == 0 and result["doubled"] == 0 and result["unconfirmed"] == 0
    for key in ("per_s", "p50_ms", "p95_ms"):
        assert result[key] > 0
    assert (e2e_demo_template / "embeddings.h5").is_file()  # the corpus itself is untouched
    assert not (e2e_demo_template / "bench").exists()
