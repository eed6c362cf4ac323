"""A build's pass over the corpus: every shot's probability, and the feeds taken from it.

:func:`score_matrix` picks how, from the matrix and the settings it was loaded with; each way
gives the same probabilities (to float16's rounding where said) and the same feeds:

- :class:`ExactScores` — float32 in this process: :func:`~va_app.learn.classifier.
  score_corpus` (one BLAS pass) and :func:`~va_app.learn.feeds.build_feeds`. The reference.
- :class:`Float16Scores` — the matrix file keeps a float16 copy (big corpora): torch's
  float16 pass, the feeds through the funnel of :mod:`va_app.learn.lowp` (exactly float32's;
  the probabilities of the shots it re-scored are float32's, the rest within ~10⁻⁴).
- Ray (``VA_SCORING=ray``): actors each map one shard of the matrix file and score it either
  way above; :mod:`va_app.learn.shards` merges their candidates exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from va_app.domain import Source
from va_app.learn.classifier import ShotClassifier, score_corpus
from va_app.learn.feeds import (
    FEED_KEYS,
    build_feeds,
    candidates_for,
    exclusion_mask,
    random_feed,
    spread_ranked,
)


class ScoredCorpus(Protocol):
    """Every shot's probability, and the four feeds of :data:`va_app.learn.feeds.FEEDS`."""

    @property
    def probabilities(self) -> np.ndarray: ...

    def feeds(
        self,
        n: int,
        *,
        seed: int | np.random.Generator | None,
        exclude: np.ndarray | None,
        clusters: np.ndarray | None = None,
        spread: tuple[str, ...] = (),
    ) -> dict[str, np.ndarray]:
        """The four feeds; with ``clusters``, those named in ``spread`` spread over them
        (:func:`va_app.learn.feeds.spread_over_clusters`)."""
        ...


class MatrixLike(Protocol):
    """What scoring reads of a matrix; read-only, so a frozen ``CorpusMatrix`` matches."""

    @property
    def X(self) -> np.ndarray: ...

    @property
    def X16(self) -> np.ndarray | None: ...

    @property
    def scoring(self) -> Any: ...


@dataclass(frozen=True, eq=False)
class ExactScores:
    """float32 probabilities of every shot; feeds as :func:`build_feeds` takes them."""

    probabilities: np.ndarray

    def feeds(
        self,
        n: int,
        *,
        seed: int | np.random.Generator | None,
        exclude: np.ndarray | None,
        clusters: np.ndarray | None = None,
        spread: tuple[str, ...] = (),
    ) -> dict[str, np.ndarray]:
        return build_feeds(
            self.probabilities, n, seed=seed, exclude=exclude, clusters=clusters, spread=spread
        )


@dataclass(frozen=True, eq=False)
class Float16Scores:
    """Probabilities from the float16 pass; feeds through the funnel (float32's exactly).

    Taking the feeds writes the float32 probability of every shot the funnel re-scored, and of
    the random feed's, into :attr:`probabilities`: every shot a feed shows reads float32's.
    """

    probabilities: np.ndarray
    logits: np.ndarray
    funnel: Any  # va_app.learn.lowp.Funnel

    def feeds(
        self,
        n: int,
        *,
        seed: int | np.random.Generator | None,
        exclude: np.ndarray | None,
        clusters: np.ndarray | None = None,
        spread: tuple[str, ...] = (),
    ) -> dict[str, np.ndarray]:
        from va_app.learn.lowp import smallest

        hidden = exclusion_mask(exclude, self.probabilities.size)
        picked = {}
        for name, key in FEED_KEYS.items():
            wanted = candidates_for(name, n, clusters, spread)
            found = smallest(
                self.funnel, key, self.logits, wanted, hidden=hidden, scores=self.probabilities
            )
            self.probabilities[found.scored_rows] = found.scores
            picked[name] = found.rows
        picked = spread_ranked(picked, n, clusters, spread)
        rng = np.random.default_rng(seed)
        picked[Source.RANDOM] = random_feed(self.probabilities, n, rng=rng, exclude=hidden)
        shown = np.sort(picked[Source.RANDOM])
        self.probabilities[shown] = self.funnel.exact(shown)  # every shot shown: float32's
        return picked


def score_matrix(matrix: MatrixLike, clf: ShotClassifier) -> ScoredCorpus:
    """Score every row of ``matrix`` with ``clf`` the way its settings say (module docstring)."""
    scoring = getattr(matrix, "scoring", None)
    if scoring is not None and scoring.backend == "ray":
        from va_app.learn.shards import score_on_ray

        return score_on_ray(matrix, clf, scoring)
    X16 = getattr(matrix, "X16", None)
    if X16 is not None:
        return float16_scores(matrix.X, X16, clf)
    return ExactScores(score_corpus(matrix.X, clf))


def corpus_probabilities(matrix: MatrixLike, clf: ShotClassifier) -> np.ndarray:
    """Every row's probability in one pass, without the feeds' re-checks: float32 where the
    matrix has no float16 copy, else torch's float16 pass (within ~10⁻³; for histograms)."""
    X16 = getattr(matrix, "X16", None)
    if X16 is None:
        return score_corpus(matrix.X, clf)
    from scipy.special import expit

    from va_app.learn.lowp import float16_scores as float16_pass

    w, b = clf.calibrated_weights()
    return expit(float16_pass(X16, w, b))


def float16_scores(X: np.ndarray, X16: np.ndarray, clf: ShotClassifier) -> Float16Scores:
    """The float16 pass over ``X16`` (rows of ``X`` rounded), ready for the funnel."""
    from scipy.special import expit

    from va_app.learn.lowp import Funnel

    w, b = clf.calibrated_weights()
    funnel = Funnel.for_build(X, X16, w, b)
    logits = funnel.approximate()
    return Float16Scores(expit(logits), logits, funnel)


__all__ = [
    "ExactScores",
    "Float16Scores",
    "ScoredCorpus",
    "corpus_probabilities",
    "score_matrix",
]
