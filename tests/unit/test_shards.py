"""Feeds merged from shards are the one-box feeds: ties, exclusions, shard edges included."""

import numpy as np
import pytest

from va_app.learn.classifier import ShotClassifier, score_corpus
from va_app.learn.feeds import DIVERSE_CANDIDATES, build_feeds, spread_ranked
from va_app.learn.shards import ShardScorer, shard_bounds, shard_feeds


def _corpus(n=9_000, dim=24, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim)).astype(np.float32)
    X[::3] = X[0]  # a third of the rows identical: ties everywhere
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    rows = rng.choice(n, 300, replace=False)
    clf = ShotClassifier().fit(X[rows], (X[rows, 1] > 0).astype(int))
    return X, clf


@pytest.mark.parametrize("shards", [1, 2, 5])
def test_feeds_merged_from_shards_equal_one_box(shards):
    X, clf = _corpus()
    hidden = np.zeros(len(X), dtype=bool)
    hidden[1::11] = True
    one_box = build_feeds(score_corpus(X, clf), 40, seed=1, exclude=hidden)
    w, b = clf.calibrated_weights()
    parts, probabilities = [], []
    for start, stop in shard_bounds(len(X), shards):
        scorer = ShardScorer(X[start:stop], None, start)
        probabilities.append(scorer.score(w, b))
        parts.append(scorer.feeds(40, hidden[start:stop]))
    merged = shard_feeds(parts, 40)
    assert np.array_equal(np.concatenate(probabilities), score_corpus(X, clf))
    for name, rows in merged.items():
        assert rows.tolist() == one_box[name].tolist(), name


def test_spread_feeds_merged_from_shards_equal_one_box():
    X, clf = _corpus()
    clusters = np.random.default_rng(4).integers(-1, 8, len(X))
    spread = ("borderline", "positive")
    one_box = build_feeds(score_corpus(X, clf), 20, seed=1, clusters=clusters, spread=spread)
    w, b = clf.calibrated_weights()
    parts = []
    for start, stop in shard_bounds(len(X), 3):
        scorer = ShardScorer(X[start:stop], None, start)
        scorer.score(w, b)
        parts.append(scorer.feeds(20 * DIVERSE_CANDIDATES, None))
    merged = spread_ranked(shard_feeds(parts, 20 * DIVERSE_CANDIDATES), 20, clusters, spread)
    for name, rows in merged.items():
        assert rows.tolist() == one_box[name].tolist(), name


def test_shard_bounds_cover_every_row_once():
    assert shard_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert shard_bounds(2, 5) == [(0, 1), (1, 2)]
