"""The benchmark runs end to end at a tiny size and reports every figure it promises.

No timing thresholds: only that each figure is there, plausible and consistent.
"""

from __future__ import annotations

import argparse
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from va_app.config import Settings
from va_app.research.bench.arguments import add_bench_arguments
from va_app.research.bench.engine import SyntheticCorpus, bench_command, run_bench

ISSUE_KEYS = {
    "floor_ms_p50",
    "build_ms_p50",
    "reference_ms_p50",
    "speedup_vs_reference",
    "build_over_floor",
    "search_ms_p50",
    "search_recall_at_50",
    "brute_force_ms_p50",
    "filtered_search_ms_p50",
    "filtered_search_recall_at_50",
    "load_ms",
    "peak_rss_mb",
    "matrix_mb",
    "index_insert_per_s",
    "notes",
}


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory) -> tuple[dict, Path]:
    """``bench --quick --json`` as the CLI runs it: its parsed output and its cache folder."""
    work = tmp_path_factory.mktemp("bench")
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    args = parser.parse_args(
        ["--quick", "--json", "--repeats", "2", "--labelled", "300", "--work-dir", str(work)]
    )
    out = io.StringIO()
    with redirect_stdout(out):
        assert bench_command(args, Settings(data_dir=work / "unused")) == 0
    return json.loads(out.getvalue()), work


def test_quick_bench_prints_every_figure_as_json(bench_run):
    result, _ = bench_run
    assert ISSUE_KEYS <= set(result)
    assert (result["shots"], result["dim"]) == (3000, 32)
    for key in (
        "floor_ms_p50",
        "build_ms_p50",
        "reference_ms_p50",
        "search_ms_p50",
        "brute_force_ms_p50",
        "filtered_search_ms_p50",
        "load_ms",
        "index_insert_per_s",
    ):
        assert result[key] > 0, key
    assert result["build_runs"] >= 5 and result["n_pos"] >= 10 and result["n_neg"] >= 10
    assert result["matrix_mb"] == pytest.approx(3000 * 32 * 4 / 2**20, abs=0.1)
    assert result["peak_rss_mb"] > result["matrix_mb"]
    assert result["peak_rss_total_mb"] >= result["peak_rss_mb"]
    assert result["speedup_vs_reference"] == pytest.approx(
        result["reference_ms_p50"] / result["build_ms_p50"], rel=0.05
    )
    # A 3,000-shot corpus is searched exactly: recall is 1 on both paths.
    assert result["search_path"] == "exact" and result["filtered_path"] == "filtered"
    assert result["search_recall_at_50"] == 1.0 == result["filtered_search_recall_at_50"]
    assert 0.05 < result["filter_selectivity"] < 0.3
    assert 0 <= result["model_score"] <= 1 and 0 < result["data_score"] <= 1
    assert set(result["targets_met"]) and all(isinstance(n, str) for n in result["notes"])
    assert not result["index_cached"]


def test_second_run_reuses_the_cached_matrix_and_index(bench_run):
    _, work = bench_run
    result = run_bench(
        shots=3000, dim=32, labelled=300, repeats=1, work_dir=work, n_queries=5, reference_repeats=1
    )
    assert result["index_cached"] and result["search_recall_at_50"] == 1.0
    assert len(list(work.glob("matrix-3000x32-seed0*.h5"))) == 2  # chunked + contiguous copy


def test_synthetic_corpus_is_reproducible_unit_vectors_with_structure():
    a, b = SyntheticCorpus.make(1200, 24, seed=3), SyntheticCorpus.make(1200, 24, seed=3)
    xa = np.concatenate([x for _, x in a.chunks()])
    np.testing.assert_array_equal(xa, np.concatenate([x for _, x in b.chunks()]))
    assert xa.shape == (1200, 24) and np.allclose(np.linalg.norm(xa, axis=1), 1, atol=1e-5)
    same_video = float(np.mean(xa[:100] @ xa[100:200].T))
    other_video = float(np.mean(xa[:100] @ xa[-100:].T))
    assert same_video > other_video
    assert len(set(a.ids)) == 1200 and a.table().n_rows == 1200
