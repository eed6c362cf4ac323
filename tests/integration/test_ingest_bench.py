"""``bench --ingest`` at a tiny size: every figure is there and consistent (no timing
thresholds — slow runs belong in the bench itself, not in the tests)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

from va_app.cli import main

STAGES = {"probe", "detect", "sample", "encode", "commit"}


def test_ingest_bench_reports_each_runner_beside_the_encoder_alone(tmp_path):
    out = io.StringIO()
    with redirect_stdout(out):
        assert (
            main(
                [
                    "bench",
                    "--ingest",
                    "--quick",
                    "--json",
                    "--runners",
                    "serial,pool",
                    "--work-dir",
                    str(tmp_path),
                    "--data-dir",
                    str(tmp_path / "data"),
                ]
            )
            == 0
        )
    result = json.loads(out.getvalue())
    alone = result["encoder_alone"]
    assert result["encoder"].startswith("descriptor:") and result["shots"] == alone["shots"] > 0
    assert abs(alone["frames_per_s"] / alone["shots_per_s"] - result["frames_per_shot"]) < 0.1
    assert set(result["runs"]) == {"serial", "pool"}
    for run in result["runs"].values():
        assert run["shots"] == result["shots"]  # every runner ingests the frames timed alone
        assert set(run["stage_seconds"]) == STAGES and run["shots_per_s"] > 0
        assert abs(run["vs_encoder"] - run["shots_per_s"] / alone["shots_per_s"]) < 0.01
    assert any("encoder alone" in note for note in result["notes"])
