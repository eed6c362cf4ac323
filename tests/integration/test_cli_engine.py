"""The engine through the command line, as a script or another tool would drive it."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.corpusfactory import make_synthetic_corpus

ROOT = Path(__file__).resolve().parents[2]


def _run(settings, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "VA_DATA_DIR": str(settings.data_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "va_app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_label_import_build_export_score_round_trip(settings, tmp_path):
    truth = make_synthetic_corpus(settings)
    _run(settings, "labels", "create", "bright", "--description", "well lit shots")
    pos = [s for s, v in sorted(truth.items()) if v][:12]
    neg = [s for s, v in sorted(truth.items()) if not v][:12]
    path = tmp_path / "ann.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "shot_id", "value", "annotator"])
        writer.writerows([["bright", s, "pos", "ana"] for s in pos])
        writer.writerows([["bright", s, "0", "bo"] for s in neg])
    assert "imported 24" in _run(settings, "annotations", "import", str(path)).stdout

    built = json.loads(_run(settings, "build", "--label", "bright", "--json", "-n", "7").stdout)
    assert built["version"] == 1 and (built["n_pos"], built["n_neg"]) == (12, 12)
    assert set(built["feeds"]) == {"positive", "negative", "borderline", "random"}
    assert all(len(ids) == 7 for ids in built["feeds"].values())

    shots = json.loads(_run(settings, "shots", "--json").stdout)
    cluster = {s["id"]: s["cluster"] for s in shots}
    capped = sum(
        min(sum(cluster[s] == c for s in group), 10) for group in (pos, neg) for c in range(10)
    )
    assert built["data_score"] == pytest.approx(capped / 200)

    model = tmp_path / "bright.vamodel.json"
    _run(settings, "model", "export", "--label", "bright", "--out", str(model))
    _run(settings, "score", "--model", str(model), "--out", str(tmp_path / "s.csv"))
    _run(settings, "score", "--label", "bright", "--out", str(tmp_path / "s.parquet"))
    by_file = pd.read_csv(tmp_path / "s.csv").set_index("shot_id").probability
    stored = pd.read_parquet(tmp_path / "s.parquet").set_index("shot_id").probability
    assert len(by_file) == len(shots) == 300
    pd.testing.assert_series_equal(by_file, stored, check_dtype=False, rtol=1e-5)
    top = by_file.sort_values(ascending=False).index[: 7 * 5].tolist()
    assert set(built["feeds"]["positive"]) <= set(top)  # the best 5·n, spread over clusters

    exported = tmp_path / "export.csv"
    _run(settings, "annotations", "export", str(exported))
    assert len(pd.read_csv(exported)) == 24


def test_errors_are_one_line_and_non_zero(settings, tmp_path):
    make_synthetic_corpus(settings, videos=2)
    proc = _run(settings, "build", "--label", "missing", ok=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().startswith("error:") and "create it first" in proc.stderr
    assert "Traceback" not in proc.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("label,shot_id\nx,y\n")
    proc = _run(settings, "annotations", "import", str(bad), ok=False)
    assert proc.returncode != 0 and "missing column" in proc.stderr
