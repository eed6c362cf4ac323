"""The paper's two experiments on a generated Netflix-format data dir: the protocol's pieces
against the documented examples, and both tables with the right shape and sane values."""

from __future__ import annotations

import json

import mmh3
import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from tests.netflixfixture import RARE, make_netflix_dir
from va_app.config import Settings
from va_app.datasets.netflix.importer import import_netflix
from va_app.errors import ValidationError
from va_app.research.experiments import in_validation, run_sample_efficiency, run_source_bandit
from va_app.research.experiments.protocol import (
    LabelKeys,
    OrderedSet,
    ProtocolError,
    ap_baseline,
    bootstrap_rows,
    split,
)
from va_app.research.experiments.source_bandit import CHOICES, TABLE3_ROWS

NS = (25, 100)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return make_netflix_dir(tmp_path_factory.mktemp("netflix") / "release")


@pytest.fixture(scope="module")
def exp1(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp1")
    return run_sample_efficiency(release.root, out_dir=out, ns=NS, scorings=("average_precision",))


# -- the protocol --------------------------------------------------------------------------
def test_hash_split_matches_the_documented_examples():
    assert mmh3.hash("HnnBvemHrWA|0", 0) == -445047165
    assert in_validation("HnnBvemHrWA|0") is True
    assert in_validation("gOJJm_cSRds|3987") is False
    keys = [f"k{i}|{i * 7}" for i in range(5000)]
    assert 0.18 < np.mean([in_validation(k) for k in keys]) < 0.22  # one in five


def test_split_refuses_a_side_without_positives():
    labeled = LabelKeys("x", frozenset({"gOJJm_cSRds|3987"}), frozenset({"HnnBvemHrWA|0"}))
    with pytest.raises(ProtocolError, match="validation side .* no positives"):
        split(labeled)


def test_get_n_takes_positives_in_proportion_but_at_least_one():
    ordered = OrderedSet("x", tuple("abc"), tuple("defghij"))
    assert ordered.get_n(5) == OrderedSet("x", ("a", "b"), ("d", "e", "f"))
    rare = OrderedSet("x", ("p",), tuple(f"n{i}" for i in range(99)))
    assert len(rare.get_n(25).pos) == 1 and len(rare.get_n(25)) == 25
    assert ordered.get_n(100) == ordered


def test_bootstraps_are_the_set_itself_then_the_references_seeded_draws():
    assert list(bootstrap_rows(6, 0)) == list(range(6))
    state = np.random.get_state()
    try:
        np.random.seed(3)
        expected = np.random.choice(range(50), 50)  # what the reference does
    finally:
        np.random.set_state(state)
    assert list(bootstrap_rows(50, 3)) == list(expected)


def test_ap_baseline_is_the_positive_rate_or_the_ap_of_random_scores():
    assert ap_baseline(300, 1200).mean == pytest.approx(0.25)
    small = ap_baseline(20, 100)
    assert len(small.values) == 1000 and 0.2 < small.mean < 0.3
    y = np.r_[np.ones(20, bool), np.zeros(80, bool)]
    scores = np.random.RandomState(0).rand(3, 100)
    assert small.values[:3] == pytest.approx([average_precision_score(y, s) for s in scores])


# -- experiment 1 ----------------------------------------------------------------------------
def test_table2_has_one_row_per_group_and_overall_and_one_column_per_n(exp1, release):
    assert list(exp1.table2.columns) == list(NS)
    assert list(exp1.table2.index) == ["emotions", "shot_types", "events_actions", "overall"]
    assert exp1.table2_counts.loc["overall"].tolist() == [3, 3]
    assert np.isfinite(exp1.table2.loc["overall"]).all()
    assert exp1.labels == ["car-chase", "happy", "static-shot"]
    assert "no positives" in exp1.excluded[RARE]
    assert "overall" in exp1.table2_text() and RARE in exp1.table2_text()


def test_every_ap_is_a_probability_and_trained_models_beat_zero_shot(exp1):
    per_label = exp1.per_label
    ap_columns = [c for c in per_label if c.endswith("_ap")]
    values = per_label[ap_columns].to_numpy(dtype=float)
    assert np.all((values[np.isfinite(values)] >= 0) & (values[np.isfinite(values)] <= 1))
    at_100 = per_label[per_label["n"] == 100].median(numeric_only=True)
    assert at_100["zs_ap"] < at_100["va_ap"] and at_100["zs_ap"] < at_100["cc_ap"]
    assert at_100["baseline_ap"] < at_100["zs_ap"]
    assert (
        per_label["va_max_train_size"].dropna()
        <= per_label.loc[per_label["va_max_train_size"].notna(), "n"] + 10
    ).all()


def test_every_fit_is_recorded_with_its_training_size(exp1):
    runs = exp1.runs
    cmp_runs = runs[runs["method"].isin(["rcc", "cc", "zsc"])]
    assert len(cmp_runs) == 3 * len(NS) * 3
    assert (cmp_runs["n_train"] <= cmp_runs["n"]).all()
    checkpoints = runs[runs["method"] == "va"]
    assert checkpoints.groupby("label")["n_train"].is_monotonic_increasing.all()


def test_files_are_written_and_the_summary_is_json(exp1):
    for name in ("runs", "per_label", "table2", "wins", "ap_vs_n", "va_wins_figure"):
        assert exp1.files[name].stat().st_size > 0
    assert "plotly" in exp1.files["ap_vs_n"].read_text(encoding="utf-8").lower()
    summary = json.loads(exp1.files["summary"].read_text(encoding="utf-8"))
    assert summary["labels_excluded"] == {RARE: exp1.excluded[RARE]}
    assert set(summary["median_gain_va_over_cc_points"]) == {"25", "100"}
    assert 0 <= summary["va_wins"]["100"]["baseline"] <= 1


def test_unknown_labels_are_named(release, tmp_path):
    with pytest.raises(ValidationError, match="no agg file for nope.*labels there: car-chase"):
        run_sample_efficiency(release.root, labels=["nope"], out_dir=tmp_path)


def test_it_runs_on_an_imported_corpus_too(release, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", encoder="descriptor")
    import_netflix(settings, release.root, index=False)
    result = run_sample_efficiency(
        settings.data_dir, labels=["static-shot"], out_dir=tmp_path / "out", ns=(50, 100), fast=True
    )
    assert result.labels == ["static-shot"] and np.isfinite(result.table2.loc["overall"]).all()


# -- experiment 2 ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exp2(release, tmp_path_factory):
    return run_source_bandit(
        release.root, out_dir=tmp_path_factory.mktemp("exp2"), rounds=8, fast=True
    )


def test_table3_has_the_papers_rows_and_percentiles(exp2):
    assert list(exp2.table3.index) == list(TABLE3_ROWS)
    assert list(exp2.table3.columns) == ["p10", "p25", "p50", "p75", "p90", "labels"]
    assert (exp2.table3["labels"] == 3).all()
    table = exp2.table3[["p10", "p25", "p50", "p75", "p90"]].to_numpy()
    assert np.isfinite(table).all() and (np.diff(table, axis=1) >= 0).all()
    assert len(exp2.variants) == 7 and np.isfinite(exp2.combined_median_gain)
    assert "UCBMean" in exp2.table3_text()


def test_bandits_play_every_source_first_and_add_at_most_25_shots_a_round(exp2):
    per_label, rounds = exp2.per_label, exp2.rounds
    assert (per_label["rounds_played"] == 8).all()
    for name in ("rr", "eps0.25", "ucb"):
        for choices in per_label.loc[per_label["algorithm"] == name, "choices"]:
            assert tuple(choices.split(",")[:3]) == CHOICES
    for choices in per_label.loc[per_label["algorithm"] == "rr", "choices"]:
        assert choices.split(",")[3:6] == list(CHOICES)
    growth = rounds.groupby(["label", "algorithm"])["n_train"].diff().dropna()
    assert ((growth >= 0) & (growth <= 25)).all()
    assert ((rounds["ap_mean"] >= 0) & (rounds["ap_mean"] <= 1)).all()
    summary = json.loads(exp2.files["summary"].read_text(encoding="utf-8"))
    assert set(summary["table3"]) == set(TABLE3_ROWS)
