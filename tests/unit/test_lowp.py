"""A float16 copy scored with torch gives exactly float32's feeds and search hits (the funnel)."""

import numpy as np
import pytest

from va_app.learn.classifier import ShotClassifier, score_corpus
from va_app.learn.feeds import build_feeds
from va_app.learn.lowp import Funnel, float16_scores, smallest
from va_app.learn.scoring import float16_scores as float16_build_scores


def _unit(a):
    a = np.asarray(a, dtype=np.float32)
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def corpus():
    """40k unit vectors, a shared direction (CLIP-like) and a concept along one axis: many shots
    sit within float16's rounding of the decision boundary."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40_000, 64)).astype(np.float32)
    X[:, 0] += 2.0
    X = _unit(X)
    return X, X.astype(np.float16)


def _classifier(X, *, strength):
    rng = np.random.default_rng(1)
    rows = rng.choice(len(X), 600, replace=False)
    y = (X[rows, 1] > 0).astype(int)
    clf = ShotClassifier(C=strength).fit(X[rows], y)
    return clf.calibrate(X[rows] @ clf.coef_ + clf.intercept_, y)


@pytest.mark.parametrize("strength", [1.0, 1000.0])  # 1000: probabilities saturate (ties at 1.0)
def test_feeds_from_the_float16_copy_are_float32_feeds(corpus, strength):
    X, X16 = corpus
    clf = _classifier(X, strength=strength)
    hidden = np.zeros(len(X), dtype=bool)
    hidden[::7] = True
    reference = build_feeds(score_corpus(X, clf), 50, seed=3, exclude=hidden)
    scored = float16_build_scores(X, X16, clf)
    approx_feeds = build_feeds(scored.probabilities.copy(), 50, seed=3, exclude=hidden)
    feeds = scored.feeds(50, seed=3, exclude=hidden)
    for name in reference:
        assert feeds[name].tolist() == reference[name].tolist(), name
    # Without the funnel float16 alone reorders the borderline (that is what it is for).
    assert approx_feeds["borderline"].tolist() != reference["borderline"].tolist()
    p = score_corpus(X, clf)
    shown = np.concatenate([feeds[n] for n in ("positive", "negative", "borderline")])
    # float32's own values, up to the last bit (BLAS sums a gathered row in another order)
    assert np.abs(scored.probabilities[shown] - p[shown]).max() <= 1.2e-7
    assert np.abs(scored.probabilities - p).max() < 5e-3  # the app shows two decimals


def test_search_top_k_from_the_float16_copy_is_float32_top_k(corpus):
    X, X16 = corpus
    rng = np.random.default_rng(9)
    for q in _unit(rng.standard_normal((5, X.shape[1]))):
        exact = X @ q
        expected = np.lexsort((np.arange(len(X)), -exact))[:100]
        funnel = Funnel.for_search(X, X16, q)
        picked = smallest(funnel, np.negative, funnel.approximate(), 100)
        assert picked.rows.tolist() == expected.tolist()
        rows = np.flatnonzero(X[:, 2] > 0)  # a filter's rows
        sub = rows[np.lexsort((rows, -exact[rows]))[:30]]
        found = smallest(funnel, np.negative, float16_scores(X16[rows], q), 30, rows=rows)
        assert found.rows.tolist() == sub.tolist()


def test_the_float16_kernel_reads_the_copy_without_a_float32_copy(corpus):
    X, X16 = corpus
    q = _unit(np.arange(X.shape[1], dtype=np.float32))
    approx = float16_scores(X16, q)
    assert approx.dtype == np.float32 and approx.shape == (len(X),)
    assert np.abs(approx - X @ q).max() < 2e-3


def test_a_kernel_rounding_beyond_its_bound_takes_the_worst_case_bound(corpus, caplog):
    """Were torch's kernel to round more than assumed, the funnel widens its first stage
    (and says so) instead of missing a row."""
    X, X16 = corpus
    q = _unit(np.random.default_rng(4).standard_normal(X.shape[1]))

    class Doubting(Funnel):
        def kernel_error(self, z, *, strict=False):
            return super().kernel_error(z, strict=strict) if strict else np.zeros_like(z)

    funnel = Doubting(X, X16, q, 0.0, Funnel.for_search(X, X16, q).transform, _one)
    picked = smallest(funnel, np.negative, funnel.approximate(), 60)
    exact = X @ q
    assert picked.rows.tolist() == np.lexsort((np.arange(len(X)), -exact))[:60].tolist()
    assert "re-taking the funnel" in caplog.text


def _one(z_abs, bound):
    return np.ones_like(z_abs, dtype=np.float32)


def test_spread_feeds_from_the_float16_copy_are_float32_spread_feeds(corpus):
    """The app's pages are spread over the k-means clusters: the same pages either way."""
    X, X16 = corpus
    clf = _classifier(X, strength=1.0)
    clusters = np.random.default_rng(2).integers(-1, 10, len(X))
    spread = ("borderline", "positive", "negative")
    reference = build_feeds(score_corpus(X, clf), 20, seed=3, clusters=clusters, spread=spread)
    feeds = float16_build_scores(X, X16, clf).feeds(
        20, seed=3, exclude=None, clusters=clusters, spread=spread
    )
    for name in reference:
        assert feeds[name].tolist() == reference[name].tolist(), name
    plain = build_feeds(score_corpus(X, clf), 20, seed=3)
    assert feeds["positive"].tolist() != plain["positive"].tolist()  # spreading did something
