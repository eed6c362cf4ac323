"""Pool negatives: unlabelled shots as weak negatives, so the first model sees the whole corpus."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from sklearn.utils.class_weight import compute_sample_weight

from va_app.learn.classifier import ShotClassifier
from va_app.learn.pool import (
    NO_POOL,
    PoolRule,
    cross_validate_with_pool,
    fit_with_pool,
    pool_rows,
    pool_weights,
    reliable_negatives,
)
from va_app.learn.scores import cross_validate


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3,000 shots in 10 scenes (unit vectors with a shared component, like CLIP's); the
    concept is a corner of scene 0 (3 % of shots). Returns X, truth and each shot's scene."""
    rng = np.random.default_rng(0)
    common, centres = rng.normal(size=64), rng.normal(size=(10, 64))
    scene = rng.integers(0, 10, 3000)
    X = _unit(2 * common + 2.5 * centres[scene] + rng.normal(size=(3000, 64)))
    in_scene = np.flatnonzero(scene == 0)
    direction = rng.normal(size=64)
    corner = in_scene[np.argsort(-(X[in_scene] @ direction))[:90]]
    truth = np.zeros(3000, bool)
    truth[corner] = True
    return X, truth, scene


def _search_labels(corpus) -> tuple[np.ndarray, np.ndarray]:
    """What text search gives before the first build: 12 positives and 8 near misses, all
    from the concept's own scene."""
    X, truth, scene = corpus
    positives = np.flatnonzero(truth)[:12]
    near_misses = np.flatnonzero((scene == 0) & ~truth)[:8]
    rows = np.r_[positives, near_misses]
    return rows, truth[rows].astype(np.int8)


def test_pool_negatives_let_the_first_model_rank_the_whole_corpus(corpus) -> None:
    X, truth, _ = corpus
    rows, y = _search_labels(corpus)
    rest = np.setdiff1d(np.arange(truth.size), rows)
    alone = ShotClassifier().fit(X[rows], y)
    rule = PoolRule()
    pool = rule.negatives(X[rows], y, X[rule.rows(truth.size, rows)])
    pooled = fit_with_pool(X[rows], y, pool, rule=rule)
    ap_alone = average_precision_score(truth[rest], alone.decision_function(X[rest]))
    ap_pooled = average_precision_score(truth[rest], pooled.decision_function(X[rest]))
    assert ap_pooled > ap_alone + 0.2, (ap_alone, ap_pooled)


def test_the_pool_never_holds_a_labelled_or_held_out_shot_and_is_reproducible() -> None:
    taken = np.arange(0, 5000, 7)
    rows = pool_rows(5000, taken, size=512, seed=3)
    assert rows.size == 512 and np.unique(rows).size == 512
    assert not np.isin(rows, taken).any()
    assert np.array_equal(rows, pool_rows(5000, taken, size=512, seed=3))
    assert pool_rows(10, np.arange(7), size=512).tolist() == [7, 8, 9]  # fewer when fewer left
    assert NO_POOL.rows(5000, taken).size == 0


def test_the_whole_pool_weighs_as_much_as_prior_labelled_negatives() -> None:
    y = np.r_[np.ones(12), np.zeros(8)]
    w = pool_weights(y, 500, prior=20)
    labelled, pool = w[:20], w[20:]
    assert w.sum() == pytest.approx(20)  # like a balanced fit: the labels' count
    assert labelled[:12].sum() == pytest.approx(10)  # positives: half
    assert pool.sum() / labelled[12] == pytest.approx(20)  # the pool: 20 negatives' worth
    assert np.ptp(pool) == 0 and np.ptp(labelled[12:]) == 0
    balanced = compute_sample_weight("balanced", y)
    np.testing.assert_allclose(pool_weights(y, 0), balanced)  # no pool: the ordinary fit


def test_reliable_negatives_leave_out_pool_shots_the_labels_call_positive() -> None:
    rng = np.random.default_rng(1)
    truth = rng.random(2000) < 0.4  # a common concept ("day": 42 % of the demo)
    direction = _unit(rng.normal(size=(1, 32)))[0]
    X = _unit(rng.normal(size=(2000, 32)) + np.where(truth, 2.0, -2.0)[:, None] * direction)
    rows = np.r_[np.flatnonzero(truth)[:12], np.flatnonzero(~truth)[:8]]
    pool = np.setdiff1d(np.arange(2000), rows)[:500]
    for by in ("rocchio", "fit"):
        kept = reliable_negatives(X[rows], truth[rows], X[pool], by=by)
        kept_rows = [r for r in pool if any(np.array_equal(X[r], k) for k in kept)]
        assert truth[pool].mean() > 0.3 and truth[kept_rows].mean() < 0.1, by
    assert PoolRule(screen="none").negatives(X[rows], truth[rows], X[pool]).shape == (500, 32)


def test_the_pool_is_left_out_once_real_negatives_outweigh_it() -> None:
    rule = PoolRule(prior=20)
    pool = np.tile(np.eye(4, dtype=np.float32)[1], (50, 1))  # like the labelled negatives

    def labels(n_neg: int) -> tuple[np.ndarray, np.ndarray]:
        X = np.eye(4, dtype=np.float32)[np.r_[np.zeros(10, int), np.ones(n_neg, int)]]
        return X, np.r_[np.ones(10), np.zeros(n_neg)]

    assert rule.share(labels(380)[1]) == pytest.approx(0.05)  # 20 of 400 negatives' weight
    assert len(rule.negatives(*labels(380), pool)) > 0
    assert len(rule.negatives(*labels(381), pool)) == 0  # beyond 380: left out


def test_quality_and_calibration_are_measured_on_the_labels_alone(corpus) -> None:
    X, truth, _ = corpus
    rows, y = _search_labels(corpus)
    rule = PoolRule()
    pool = rule.negatives(X[rows], y, X[rule.rows(truth.size, rows)])
    cv = cross_validate_with_pool(X[rows], y, pool, rule=rule)
    assert cv.logits.shape == (20,)  # one out-of-fold logit per label, none for the pool
    assert cv.balanced_accuracies.shape == (5,)
    plain = cross_validate(X[rows], y)
    assert np.array_equal(cross_validate_with_pool(X[rows], y, None).logits, plain.logits)
    assert np.array_equal(
        cross_validate_with_pool(X[rows], y, pool, rule=NO_POOL).logits, plain.logits
    )
