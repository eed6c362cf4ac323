"""Active-learning feeds: which shots to show the expert next (paper §3, Figure 3).

Each feed is a *strategy* (modAL's word): a pure function
``feed(scores, n, *, rng=None, exclude=None) -> indices`` over the per-shot scores of the
whole corpus. Scores are the classifier's calibrated probabilities of "positive" (what
:func:`va_app.learn.classifier.score_corpus` returns), so the borderline feed's 0.5 is where
the model, judged out of fold, is as often right as wrong. Any score that is monotone in the
probability works for the positive, negative and random feeds; for calibrated logits pass
``boundary=0.0`` to the borderline feed (smallest ``|p − 0.5|`` ⇔ smallest ``|logit|``).

Every feed hides the shots in ``exclude`` (a boolean mask over the corpus, or an array of
shot indices — typically the shots already labelled), returns at most ``n`` indices (fewer
when fewer shots are left), and breaks ties by the lower index, so a feed is a function of
its inputs. Top-n never sorts the corpus: a cut guessed from a sample keeps a few more than
n shots in one comparison pass, and only those are partitioned and sorted (~1 ms per feed
at 500k shots; a full ``argpartition`` took 6–9 ms here, ``argsort`` ~80 ms).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Protocol

import numpy as np

from va_app.domain import Source

#: The probability a borderline shot is closest to: the classifier's decision threshold.
DEFAULT_BOUNDARY = 0.5
#: Keys sampled to guess a top-n cut: ~0.2 ms to partition, and the guess keeps ~2n shots.
THRESHOLD_SAMPLE = 16_384
#: Extra sample ranks above 2n so a small n still keeps enough shots past the cut.
THRESHOLD_MARGIN = 8
#: Cluster-Margin's candidate pool, in pages: the diverse borderline feed spreads a page over
#: the clusters of the ``DIVERSE_CANDIDATES·n`` least certain shots.
DIVERSE_CANDIDATES = 5


class Feed(Protocol):
    """What every feed is: scores of the whole corpus in, at most ``n`` shot indices out."""

    def __call__(
        self,
        scores: np.ndarray,
        n: int,
        *,
        rng: np.random.Generator | int | None = None,
        exclude: np.ndarray | None = None,
    ) -> np.ndarray: ...


def top_positive_feed(
    scores: np.ndarray,
    n: int,
    *,
    rng: np.random.Generator | int | None = None,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """The ``n`` highest-scoring shots, highest first: the model's most confident positives."""
    scores, hidden = _check_inputs(scores, n, exclude)
    return _smallest_keys(np.negative(scores), n, hidden)


def top_negative_feed(
    scores: np.ndarray,
    n: int,
    *,
    rng: np.random.Generator | int | None = None,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """The ``n`` lowest-scoring shots, lowest first: the model's most confident negatives."""
    scores, hidden = _check_inputs(scores, n, exclude)
    return _smallest_keys(scores, n, hidden)


def borderline_feed(
    scores: np.ndarray,
    n: int,
    *,
    rng: np.random.Generator | int | None = None,
    exclude: np.ndarray | None = None,
    boundary: float = DEFAULT_BOUNDARY,
) -> np.ndarray:
    """The ``n`` shots with the smallest ``|score − boundary|``, closest first.

    With probabilities (``boundary=0.5``) these are the shots the model is least sure about
    (uncertainty sampling); with logits pass ``boundary=0.0``.
    """
    scores, hidden = _check_inputs(scores, n, exclude)
    return _smallest_keys(np.abs(scores - scores.dtype.type(boundary)), n, hidden)


def diverse_borderline_feed(
    scores: np.ndarray,
    n: int,
    *,
    rng: np.random.Generator | int | None = None,
    exclude: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    boundary: float = DEFAULT_BOUNDARY,
    candidates: int = DIVERSE_CANDIDATES,
) -> np.ndarray:
    """Borderline shots spread over the corpus's clusters (Cluster-Margin, Citovsky et al.,
    NeurIPS 2021), so one page is not one ambiguous scene twenty times: the
    ``candidates·n`` least certain shots, :func:`spread_over_clusters`. Without ``clusters``
    it is :func:`borderline_feed`."""
    scores, hidden = _check_inputs(scores, n, exclude)
    ranked = borderline_feed(scores, n * candidates, exclude=hidden, boundary=boundary)
    return ranked[:n] if clusters is None else spread_over_clusters(ranked, clusters, n, scores)


def spread_over_clusters(
    ranked: np.ndarray, clusters: np.ndarray, n: int, scores: np.ndarray | None = None
) -> np.ndarray:
    """``n`` of a feed's ``ranked`` candidates, taken one cluster at a time (Cluster-Margin).

    ``clusters`` holds one id per shot of the corpus (the k-means clusters of the diversity
    score; −1, no cluster, is a group of its own). The candidates are grouped by cluster; the
    groups are taken in turn, the group with the fewest candidates first, each giving its
    best-ranked candidate not yet taken, until ``n`` are picked. Cluster-Margin draws within
    a group at random; here the best-ranked goes first, so a feed stays a function of its
    inputs. ``scores`` (the corpus's) only checks that ``clusters`` matches it.
    """
    clusters = np.asarray(clusters)
    if scores is not None and clusters.shape != np.shape(scores):
        raise ValueError(
            f"clusters must give one id per shot {np.shape(scores)}, got {clusters.shape}"
        )
    _, group, size = np.unique(clusters[ranked], return_inverse=True, return_counts=True)
    turn = np.empty(ranked.size, dtype=np.intp)  # how many of its group rank before it
    for g in range(size.size):
        members = np.flatnonzero(group == g)
        turn[members] = np.arange(members.size)
    order = np.lexsort((group, size[group], turn))
    return ranked[order[:n]]


def random_feed(
    scores: np.ndarray,
    n: int,
    *,
    rng: np.random.Generator | int | None = None,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """``n`` shots drawn uniformly without replacement (in draw order), ignoring the scores.

    ``rng`` is a ``np.random.Generator`` or a seed; the same seed and inputs give the same
    shots. ``None`` draws fresh entropy.
    """
    scores, hidden = _check_inputs(scores, n, exclude)
    candidates = np.flatnonzero(~hidden) if hidden is not None else None
    n_left = scores.size if candidates is None else candidates.size
    # Generator.choice draws n without shuffling the whole corpus (legacy np.random does).
    picked = np.random.default_rng(rng).choice(n_left, size=min(n, n_left), replace=False)
    return picked.astype(np.intp) if candidates is None else candidates[picked]


#: Before the first build, the "by meaning" page (:func:`meaning_page`) spreads over the top
#: ``MEANING_SHARE`` of the label's text ranking — for a common concept the part where positives
#: and near misses mix (Agile Deliberation's borderline examples chosen by meaning, when there
#: is no model to say what is borderline) —, at least ``MEANING_MIN_PAGES`` pages deep and at
#: most ``MEANING_MAX_DEPTH`` hits (a search of that many is cheap at any corpus size).
MEANING_SHARE = 0.10
MEANING_PAGE = 5
MEANING_MIN_PAGES = 5
MEANING_MAX_DEPTH = 5_000


def meaning_depth(n_shots: int) -> int:
    """How far down the label's text ranking the "by meaning" page reaches."""
    return min(
        max(MEANING_MIN_PAGES * MEANING_PAGE, int(MEANING_SHARE * n_shots)), MEANING_MAX_DEPTH
    )


def meaning_page(window, n: int, *, page: int = MEANING_PAGE) -> list:
    """``n`` of ``window`` (the unlabelled text hits within :func:`meaning_depth`, best first),
    in groups of ``page``: each group the best hit left, the others evenly spaced down the rest
    of the window. A page of the top hits alone shows one corner of the concept (near-duplicate
    positives); spread down the ranking it shows clear positives, near misses and negatives of
    the same words — what a first model needs (``simulate``: README, "First labels")."""
    left = list(window)
    picked: list = []
    while left and len(picked) < n:
        k = min(page, n - len(picked), len(left))
        chosen = np.unique(np.linspace(0, len(left) - 1, num=k).astype(np.intp))
        picked += [left[i] for i in chosen]
        taken = set(chosen.tolist())
        left = [item for i, item in enumerate(left) if i not in taken]
    return picked


#: The four feeds of the build page by name (paper Figure 3), in the order of
#: :data:`va_app.domain.FEED_SOURCES`.
FEEDS: dict[str, Feed] = {
    Source.POSITIVE: top_positive_feed,
    Source.NEGATIVE: top_negative_feed,
    Source.BORDERLINE: borderline_feed,
    Source.RANDOM: random_feed,
}

#: The feeds that take the ``n`` smallest of a key, with that key of the probabilities
#: (float32, exactly as the feeds above compute it): what a funnel or a shard of the matrix
#: (``va_app.learn.lowp``, ``va_app.learn.shards``) ranks by.
FEED_KEYS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    Source.POSITIVE: np.negative,
    Source.NEGATIVE: lambda p: p,
    Source.BORDERLINE: lambda p: np.abs(p - p.dtype.type(DEFAULT_BOUNDARY)),
}


def build_feeds(
    scores: np.ndarray,
    n: int,
    *,
    seed: int | np.random.Generator | None,
    exclude: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    spread: tuple[str, ...] = (Source.BORDERLINE, Source.POSITIVE, Source.NEGATIVE),
    candidates: int = DIVERSE_CANDIDATES,
) -> dict[str, np.ndarray]:
    """Every feed of :data:`FEEDS` at once: ``{name: indices}``, each at most ``n`` long.

    The exclusion is resolved once for all feeds; ``seed`` drives the random feed. With
    ``clusters`` (a cluster id per shot), the feeds named in ``spread`` show the
    ``candidates·n`` shots they rank first spread over the clusters
    (:func:`spread_over_clusters`; the borderline one is then
    :func:`diverse_borderline_feed`). Feeds may overlap (a confident positive can also be
    drawn at random).
    """
    scores, hidden = _check_inputs(scores, n, exclude)
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, feed in FEEDS.items():
        if clusters is None or name not in spread or name == Source.RANDOM:
            feeds[name] = feed(scores, n, rng=rng, exclude=hidden)
        else:
            ranked = feed(scores, n * candidates, rng=rng, exclude=hidden)
            feeds[name] = spread_over_clusters(ranked, clusters, n, scores)
    return feeds


def candidates_for(name: str, n: int, clusters: np.ndarray | None, spread: tuple[str, ...]) -> int:
    """How many of feed ``name``'s ranking a scorer must hand over for a page of ``n``: the
    ``DIVERSE_CANDIDATES·n`` a spread page is drawn from, else ``n``."""
    return n * DIVERSE_CANDIDATES if clusters is not None and name in spread else n


def spread_ranked(
    ranked: dict[str, np.ndarray],
    n: int,
    clusters: np.ndarray | None,
    spread: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """Pages of ``n`` from each score feed's ranking (at least :func:`candidates_for` long):
    the feeds in ``spread`` spread over ``clusters``, the others their first ``n``. For scorers
    that rank apart from :func:`build_feeds` (float16, Ray shards): the same pages."""
    return {
        name: (
            spread_over_clusters(rows, clusters, n)
            if clusters is not None and name in spread
            else rows[:n]
        )
        for name, rows in ranked.items()
    }


def exclusion_mask(exclude: np.ndarray | None, n_shots: int) -> np.ndarray | None:
    """``exclude`` (a boolean mask or an index array) as a boolean mask; ``None`` stays ``None``."""
    if exclude is None:
        return None
    exclude = np.asarray(exclude)
    if exclude.dtype == bool:
        if exclude.shape != (n_shots,):
            raise ValueError(
                f"exclude mask has shape {exclude.shape}, expected ({n_shots},) like the scores"
            )
        return exclude
    if exclude.size == 0:
        return None
    if exclude.ndim != 1 or not np.issubdtype(exclude.dtype, np.integer):
        raise ValueError("exclude must be a boolean mask or a 1-D array of shot indices")
    if exclude.min() < 0 or exclude.max() >= n_shots:
        raise ValueError(f"exclude holds indices outside 0..{n_shots - 1}")
    mask = np.zeros(n_shots, dtype=bool)
    mask[exclude] = True
    return mask


def _check_inputs(
    scores: np.ndarray, n: int, exclude: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    scores = np.asarray(scores)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D (one per shot), got shape {scores.shape}")
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity: was a non-finite embedding scored?")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    return scores, exclusion_mask(exclude, scores.size)


def _smallest_keys(keys: np.ndarray, n: int, hidden: np.ndarray | None) -> np.ndarray:
    """Indices of the ``n`` smallest ``keys`` not hidden, ascending, ties by lower index."""
    if hidden is not None:
        keys = np.where(hidden, np.inf, keys)
        n = min(n, keys.size - int(np.count_nonzero(hidden)))
    n = min(n, keys.size)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    candidates = smallest_candidates(keys, n)
    sub = keys[candidates]
    if candidates.size > n:
        kth = np.partition(sub, n - 1)[n - 1]
        # Everything below the n-th smallest, then the lowest-index shots tied with it.
        below, tied = candidates[sub < kth], candidates[sub == kth]
        candidates = np.concatenate([below, tied[: n - below.size]])
        sub = keys[candidates]
    return candidates[np.lexsort((candidates, sub))]


def smallest_candidates(keys: np.ndarray, n: int) -> np.ndarray:
    """Indices (ascending) of a few more than the ``n`` smallest keys, ties at the cut included.

    A threshold read off a strided sample of the keys keeps ~2n shots in one comparison pass
    (~0.3 ms at 500k, where a full ``argpartition`` takes 6–9 ms here); when the sample
    misjudges (fewer than n kept), every index is a candidate and the caller partitions.
    """
    stride = keys.size // THRESHOLD_SAMPLE
    if stride >= 2:
        sample = keys[::stride]
        rank = -(-2 * n * sample.size // keys.size) + THRESHOLD_MARGIN
        if rank < sample.size:
            kept = np.flatnonzero(keys <= np.partition(sample, rank)[rank])
            if kept.size >= n:
                return kept
    return np.arange(keys.size)


def feed_seed(label: str, version: int) -> int:
    """Random-feed seed fixed per (label, version): a page reload shows the same feed
    (version 0: the random shots before the first build)."""
    return zlib.crc32(f"{label.casefold()}#{version}".encode())
