"""The four active-learning feeds pick exactly the shots their definitions name."""

from __future__ import annotations

import numpy as np
import pytest

from va_app.learn.feeds import (
    FEEDS,
    borderline_feed,
    build_feeds,
    diverse_borderline_feed,
    random_feed,
    top_negative_feed,
    top_positive_feed,
)

#            index: 0     1     2     3     4     5     6     7
SCORES = np.array([0.10, 0.90, 0.55, 0.48, 0.99, 0.02, 0.60, 0.30], dtype=np.float32)


def test_top_positive_feed_is_highest_scores_highest_first() -> None:
    assert top_positive_feed(SCORES, 3).tolist() == [4, 1, 6]


def test_top_negative_feed_is_lowest_scores_lowest_first() -> None:
    assert top_negative_feed(SCORES, 3).tolist() == [5, 0, 7]


def test_borderline_feed_is_closest_to_one_half_closest_first() -> None:
    # |p − 0.5|: 0.40 0.40 0.05 0.02 0.49 0.48 0.10 0.20
    assert borderline_feed(SCORES, 4).tolist() == [3, 2, 6, 7]


def test_borderline_on_logits_uses_boundary_zero() -> None:
    probs = SCORES.astype(np.float64)
    logits = np.log(probs / (1 - probs))
    assert borderline_feed(logits, 4, boundary=0.0).tolist() == borderline_feed(probs, 4).tolist()


@pytest.mark.parametrize("feed", [top_positive_feed, top_negative_feed, borderline_feed])
def test_feeds_match_a_full_sort_on_a_large_corpus(feed) -> None:
    scores = np.random.default_rng(1).random(50_000, dtype=np.float32)
    key = {top_positive_feed: -scores, top_negative_feed: scores}.get(feed, np.abs(scores - 0.5))
    expected = np.lexsort((np.arange(scores.size), key))[:100]
    assert feed(scores, 100).tolist() == expected.tolist()


def _layouts() -> dict[str, np.ndarray]:
    """Large score vectors laid out in ways that could fool a sampled cut."""
    n = 100_000
    rng = np.random.default_rng(2)
    saturated = rng.random(n, dtype=np.float32)
    saturated[rng.random(n) < 0.3] = 1.0  # float32 sigmoid of large logits is exactly 1
    layouts = {
        "ascending": np.linspace(0, 1, n, dtype=np.float32),
        "descending": np.linspace(1, 0, n, dtype=np.float32),
        "saturated": saturated,
        "all equal": np.full(n, 0.5, dtype=np.float32),
    }
    for period in range(2, 9):  # low scores only off a regular grid of positions, or on it
        periodic = np.ones(n, dtype=np.float32)
        periodic[::period] = np.linspace(0, 0.1, periodic[::period].size)
        layouts[f"period {period}"] = periodic
        layouts[f"anti-period {period}"] = 1 - periodic
    return layouts


@pytest.mark.parametrize("layout", list(_layouts()))
@pytest.mark.parametrize("n", [1, 100, 5_000])
def test_feeds_match_a_full_sort_however_scores_are_laid_out(layout: str, n: int) -> None:
    scores = _layouts()[layout]
    index = np.arange(scores.size)
    for feed, key in (
        (top_positive_feed, -scores),
        (top_negative_feed, scores),
        (borderline_feed, np.abs(scores - np.float32(0.5))),
    ):
        assert feed(scores, n).tolist() == np.lexsort((index, key))[:n].tolist(), feed.__name__


@pytest.mark.parametrize("feed", list(FEEDS.values()))
@pytest.mark.parametrize("as_mask", [True, False])
def test_every_feed_hides_excluded_shots(feed, as_mask: bool) -> None:
    labelled = np.array([4, 1, 5, 3])
    exclude = np.isin(np.arange(SCORES.size), labelled) if as_mask else labelled
    picked = feed(SCORES, 3, rng=0, exclude=exclude)
    assert len(picked) == 3
    assert not set(picked.tolist()) & set(labelled.tolist())


def test_excluded_shots_are_skipped_not_just_dropped() -> None:
    # With the best two labelled, the next best fill the feed.
    assert top_positive_feed(SCORES, 3, exclude=np.array([4, 1])).tolist() == [6, 2, 3]


@pytest.mark.parametrize("feed", list(FEEDS.values()))
def test_asking_for_more_than_available_returns_all_unlabelled(feed) -> None:
    picked = feed(SCORES, 100, rng=0, exclude=np.array([0, 1]))
    assert sorted(picked.tolist()) == [2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("feed", list(FEEDS.values()))
def test_everything_labelled_gives_an_empty_feed(feed) -> None:
    picked = feed(SCORES, 5, rng=0, exclude=np.ones(SCORES.size, dtype=bool))
    assert picked.size == 0 and picked.dtype.kind == "i"


def test_ties_are_broken_by_lower_index() -> None:
    tied = np.array([0.7, 0.9, 0.7, 0.9, 0.7, 0.1, 0.7], dtype=np.float32)
    assert top_positive_feed(tied, 4).tolist() == [1, 3, 0, 2]
    assert top_negative_feed(tied, 3).tolist() == [5, 0, 2]
    # ties straddling the cut of a large corpus, where argpartition's order is arbitrary
    many = np.zeros(10_000, dtype=np.float32)
    many[::7] = 1.0
    assert top_positive_feed(many, 5).tolist() == [0, 7, 14, 21, 28]
    assert top_negative_feed(many, 3).tolist() == [1, 2, 3]


def test_random_feed_is_reproducible_per_seed_and_differs_across_seeds() -> None:
    scores = np.random.default_rng(0).random(100_000, dtype=np.float32)
    first = random_feed(scores, 20, rng=7)
    assert random_feed(scores, 20, rng=7).tolist() == first.tolist()
    assert random_feed(scores, 20, rng=np.random.default_rng(7)).tolist() == first.tolist()
    assert random_feed(scores, 20, rng=8).tolist() != first.tolist()
    assert len(set(first.tolist())) == 20


def test_random_feed_covers_the_corpus_uniformly() -> None:
    scores = np.zeros(10, dtype=np.float32)
    rng = np.random.default_rng(0)
    counts = np.bincount(np.concatenate([random_feed(scores, 3, rng=rng) for _ in range(3000)]))
    # each shot drawn with probability 3/10 per round: 900 ± ~4 standard deviations
    assert counts.min() > 800 and counts.max() < 1000


def test_build_feeds_gives_every_feed_and_respects_exclusion() -> None:
    labelled = np.array([4, 5])
    feeds = build_feeds(SCORES, 2, seed=3, exclude=labelled)
    assert set(feeds) == {"positive", "negative", "borderline", "random"}
    assert feeds["positive"].tolist() == [1, 6]
    assert feeds["negative"].tolist() == [0, 7]
    assert feeds["borderline"].tolist() == [3, 2]
    assert build_feeds(SCORES, 2, seed=3, exclude=labelled)["random"].tolist() == (
        feeds["random"].tolist()
    )
    assert not set(feeds["random"].tolist()) & {4, 5}


@pytest.mark.parametrize(
    ("scores", "n", "exclude", "message"),
    [
        (np.ones((2, 2)), 1, None, "1-D"),
        (np.array([0.1, np.nan]), 1, None, "NaN"),
        (SCORES, -1, None, "non-negative"),
        (SCORES, 1.5, None, "non-negative"),
        (SCORES, 1, np.array([True, False]), "shape"),
        (SCORES, 1, np.array([0, 8]), "outside"),
        (SCORES, 1, np.array([0.5]), "boolean mask or"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_message(scores, n, exclude, message) -> None:
    with pytest.raises(ValueError, match=message):
        top_positive_feed(scores, n, exclude=exclude)


# ------------------------------------------------------ diverse borderline (Cluster-Margin)


def _one_scene_borderline(n_shots: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Scores where the 30 least certain shots all lie in cluster 0 (one ambiguous scene) and
    the next least certain ones are spread over clusters 1..9."""
    rng = np.random.default_rng(3)
    clusters = rng.integers(1, 10, n_shots)
    scores = np.where(rng.random(n_shots) < 0.5, 0.05, 0.95).astype(np.float32)
    scores[:30], clusters[:30] = 0.5 + np.linspace(0, 0.01, 30), 0
    scores[30:130] = 0.5 + np.linspace(0.02, 0.2, 100)
    return scores, clusters


def test_diverse_borderline_spreads_a_page_over_the_clusters() -> None:
    scores, clusters = _one_scene_borderline()
    plain = borderline_feed(scores, 20)
    diverse = diverse_borderline_feed(scores, 20, clusters=clusters)
    assert set(clusters[plain]) == {0}  # one scene twenty times
    assert set(clusters[diverse]) == set(range(10))  # every cluster near the boundary
    assert len(set(diverse.tolist())) == 20
    # it still shows borderline shots: all from the 5 pages least certain
    assert np.abs(scores[diverse] - 0.5).max() <= np.sort(np.abs(scores - 0.5))[99]


def test_diverse_borderline_takes_each_clusters_least_certain_first() -> None:
    scores, clusters = _one_scene_borderline()
    diverse = diverse_borderline_feed(scores, 20, clusters=clusters)
    for cluster in range(10):
        picked = diverse[clusters[diverse] == cluster]
        in_cluster = borderline_feed(np.where(clusters == cluster, scores, 9.0), picked.size)
        assert sorted(picked.tolist()) == sorted(in_cluster.tolist())


def test_diverse_borderline_hides_excluded_shots_and_needs_clusters_for_every_shot() -> None:
    scores, clusters = _one_scene_borderline()
    hidden = np.arange(10)
    picked = diverse_borderline_feed(scores, 20, clusters=clusters, exclude=hidden)
    assert not set(picked.tolist()) & set(hidden.tolist())
    assert diverse_borderline_feed(scores, 5).tolist() == borderline_feed(scores, 5).tolist()
    with pytest.raises(ValueError, match="one id per shot"):
        diverse_borderline_feed(scores, 5, clusters=clusters[:-1])


def test_build_feeds_spreads_the_borderline_feed_when_given_clusters() -> None:
    scores, clusters = _one_scene_borderline()
    feeds = build_feeds(scores, 20, seed=1, clusters=clusters, spread=("borderline",))
    plain = build_feeds(scores, 20, seed=1)
    assert (
        feeds["borderline"].tolist()
        == diverse_borderline_feed(scores, 20, clusters=clusters).tolist()
    )
    for name in ("positive", "negative", "random"):  # only the feeds named are spread
        assert feeds[name].tolist() == plain[name].tolist()
    spread = build_feeds(scores, 20, seed=1, clusters=clusters)  # default: all but random
    assert spread["random"].tolist() == plain["random"].tolist()
    for name in ("positive", "negative"):
        assert len(set(clusters[spread[name]])) > len(set(clusters[plain[name]]))
