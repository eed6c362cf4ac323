"""Model-quality and data-diversity scores, and the stopping rule (paper §3.1)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold

from va_app.errors import ValidationError
from va_app.learn.classifier import ShotClassifier
from va_app.learn.scores import (
    capped_cluster_counts,
    cv_balanced_accuracies,
    data_diversity_score,
    model_quality_score,
    readiness,
)


def _ids(counts: list[int]) -> np.ndarray:
    """Cluster ids of labelled shots: ``counts[c]`` shots in cluster c."""
    return np.repeat(np.arange(len(counts)), counts)


# ---------------------------------------------------------------- data diversity


def test_diversity_reproduces_the_papers_figure_6_value() -> None:
    # Figure 6 of the paper shows a label whose diversity score is 0.65 (k = 10, s = 10, so
    # the denominator is 2·10·10 = 200 and the capped counts must sum to 130). The per-cluster
    # counts below are a reconstruction with that sum:
    #   positives [10, 10, 10, 5, 5, 2, 1, 0, 0, 0]              -> capped sum 43
    #   negatives [30, 12, 10, 10, 10, 10, 10, 10, 7, 0] capped   -> 10·8 + 7 = 87
    #   (43 + 87) / 200 = 0.65; the 20 + 2 labels above the cap of 10 add nothing.
    positives = _ids([10, 10, 10, 5, 5, 2, 1, 0, 0, 0])
    negatives = _ids([30, 12, 10, 10, 10, 10, 10, 10, 7, 0])
    assert data_diversity_score(positives, negatives) == pytest.approx(0.65)


def test_diversity_counts_are_capped_per_cluster_and_class() -> None:
    assert capped_cluster_counts(_ids([25, 3, 0, 10]), k=4, cap=10).tolist() == [10, 3, 0, 10]
    # 500 labels piled into one cluster score no better than 10 there
    piled = data_diversity_score(_ids([500]), _ids([500]), k=10)
    assert piled == pytest.approx((10 + 10) / 200)


def test_diversity_hand_computed_small_cases() -> None:
    # k = 3, s = 2: positives [1, 4, 0] -> 1 + 2 + 0 = 3; negatives [2, 2, 1] -> 5; 8 / 12
    score = data_diversity_score(_ids([1, 4, 0]), _ids([2, 2, 1]), k=3, cap=2)
    assert score == pytest.approx(8 / 12)
    assert data_diversity_score(np.array([], dtype=int), np.array([], dtype=int)) == 0.0
    full = _ids([10] * 10)
    assert data_diversity_score(full, full) == 1.0


def test_diversity_ignores_label_order() -> None:
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 10, 40), rng.integers(0, 10, 70)
    assert data_diversity_score(pos, neg) == data_diversity_score(rng.permutation(pos), neg)


def test_diversity_refuses_cluster_ids_outside_k() -> None:
    with pytest.raises(ValueError, match=r"0\.\.9"):
        data_diversity_score(np.array([0, 10]), np.array([1]), k=10)
    with pytest.raises(ValueError, match=r"0\.\.4"):
        data_diversity_score(np.array([0]), np.array([-1]), k=5)
    with pytest.raises(ValueError, match="at least 1"):
        data_diversity_score(np.array([0]), np.array([0]), k=0)


# ---------------------------------------------------------------- model quality


def _blobs(n_pos: int, n_neg: int, *, seed: int = 0, d: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centre = np.zeros(d, dtype=np.float32)
    centre[0] = 3.0
    X = np.vstack(
        [
            centre + rng.normal(0, 0.3, (n_pos, d)),
            -centre + rng.normal(0, 0.3, (n_neg, d)),
        ]
    ).astype(np.float32)
    return X, np.r_[np.ones(n_pos, np.int8), np.zeros(n_neg, np.int8)]


def test_separable_labels_score_high_and_random_labels_score_near_chance() -> None:
    X, y = _blobs(60, 60)
    assert model_quality_score(X, y) > 0.95
    noise = np.random.default_rng(1).normal(size=(200, 32)).astype(np.float32)
    coin = np.random.default_rng(2).integers(0, 2, 200)
    assert 0.3 < model_quality_score(noise, coin) < 0.6


def test_quality_is_the_25th_percentile_of_constructed_fold_scores() -> None:
    # 50 positives, 50 negatives -> 5 test folds of 10 + 10. In fold f we move f positives'
    # embeddings into the negative blob (labels unchanged, so the folds stay the same). A
    # linear model cannot carve those out of the blob: fold f's balanced accuracy is
    # (1 − f/10 + 1) / 2 = 1 − f/20, i.e. the folds score [1.00, 0.95, 0.90, 0.85, 0.80].
    X, y = _blobs(50, 50, seed=3, d=2)
    folds = StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)
    rng = np.random.default_rng(4)
    for f, (_, test) in enumerate(folds):
        moved = test[y[test] == 1][:f]
        X[moved] = np.array([-3.0, 0.0]) + rng.normal(0, 0.2, (f, 2))
    assert cv_balanced_accuracies(X, y) == pytest.approx([1.0, 0.95, 0.9, 0.85, 0.8])
    # linear interpolation over the sorted folds [.80 .85 .90 .95 1.0]: 25th = second worst
    assert model_quality_score(X, y) == pytest.approx(0.85)
    assert model_quality_score(X, y, percentile=0) == pytest.approx(0.80)
    assert model_quality_score(X, y, percentile=50) == pytest.approx(0.90)
    assert model_quality_score(X, y, percentile=12.5) == pytest.approx(0.825)


def test_fold_scores_are_balanced_accuracy() -> None:
    X, y = _blobs(30, 70, seed=5)
    X[:10] = -X[:10]  # some positives look negative
    manual = []
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        clf = ShotClassifier().fit(X[train], y[train])
        manual.append(balanced_accuracy_score(y[test], clf.predict(X[test])))
    assert cv_balanced_accuracies(X, y) == pytest.approx(manual)


def test_a_class_with_fewer_than_five_labels_gets_fewer_folds() -> None:
    X, y = _blobs(3, 40)
    assert len(cv_balanced_accuracies(X, y)) == 3
    assert len(cv_balanced_accuracies(*_blobs(40, 2))) == 2
    assert len(cv_balanced_accuracies(*_blobs(40, 40), n_splits=4)) == 4


def test_quality_needs_two_labels_of_each_class() -> None:
    X, y = _blobs(1, 20)
    with pytest.raises(ValidationError, match="Need 1 more positive to estimate model quality"):
        model_quality_score(X, y)


def test_quality_is_deterministic_for_a_random_state() -> None:
    X, y = _blobs(40, 40, seed=6)
    X[:8] = -X[:8]
    assert model_quality_score(X, y, random_state=1) == model_quality_score(X, y, random_state=1)


# ---------------------------------------------------------------- readiness


def test_ready_when_every_threshold_is_met() -> None:
    verdict = readiness(120, 100, 0.86, 0.8)
    assert verdict.ready
    assert verdict.reason.startswith("Ready")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((70, 150, 0.9, 0.9), "30 more positives"),
        ((150, 99, 0.9, 0.9), "1 more negative"),
        ((150, 150, 0.72, 0.9), "model quality ≥ 0.80 (now 0.72)"),
        ((150, 150, 0.9, 0.65), "data diversity ≥ 0.80 (now 0.65)"),
        ((150, 150, None, 0.9), "model quality score"),
    ],
)
def test_not_ready_says_what_is_missing(args, expected: str) -> None:
    verdict = readiness(*args)
    assert not verdict.ready
    assert expected in verdict.reason


def test_not_ready_lists_every_shortfall() -> None:
    reason = readiness(10, 20, 0.5, 0.3).reason
    assert all(s in reason for s in ("90 more positives", "80 more negatives", "0.50", "0.30"))
