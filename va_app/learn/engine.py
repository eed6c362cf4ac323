"""The build: labelled set → classifier → every shot scored → four feeds and two scores.

The corpus matrix is mapped once (:class:`CorpusMatrix`) and reused across builds; a build is
one fit, one stratified CV (whose out-of-fold logits also fit the Platt calibration, so the
scores read as probabilities), one pass ``X @ w`` over the matrix and four arg-partitions (the
pass and the feeds as :mod:`va_app.learn.scoring` chooses: float32 here, a float16 copy with
the feeds re-checked in float32, or shards on Ray — the same feeds every way).
Every build is stored as a model version (``va_app.store.models``). The version's number seeds
the random feed, so a build comes in two halves — :func:`train` (fit, rate, calibrate, score)
and :func:`finish_build` (feeds, data score) — and the service numbers the version between
them, in the transaction that stores it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from va_app.domain import FEED_SOURCES, Source, TrainingSet
from va_app.learn.calibration import calibration_report
from va_app.learn.classifier import ShotClassifier, check_trainable
from va_app.learn.matrix import CorpusMatrix
from va_app.learn.pool import PoolRule, cross_validate_with_pool, fit_with_pool
from va_app.learn.scores import data_diversity_score
from va_app.learn.scoring import ExactScores, ScoredCorpus, score_matrix

DEFAULT_FEED_SIZE = 20
#: Pool negatives of every build (va_app.learn.pool; measured in the README's simulator table).
DEFAULT_POOL = PoolRule()
#: The feeds whose pages are spread over the corpus's k-means clusters (Cluster-Margin;
#: measured in the README's simulator table): the app's builds and the feeds it recomputes for
#: a stored version (``services.feed_reads.feeds_for``) both pass these.
DEFAULT_SPREAD: tuple[str, ...] = (Source.BORDERLINE, Source.POSITIVE, Source.NEGATIVE)


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """The first half of a build: the fitted classifier and every shot's probability.

    Nothing in it depends on the version number; :func:`finish_build` adds what does (the
    random feed's seed), once the number is known.
    """

    classifier: ShotClassifier
    probabilities: np.ndarray
    pos_rows: np.ndarray
    neg_rows: np.ndarray
    exclude: np.ndarray | None  # rows kept out of the feeds (hide labelled)
    model_score: float
    fingerprint: str
    annotators: list[str]
    timings_ms: dict[str, float]
    calibration: dict
    n_pool: int = 0  # unlabelled shots fitted as weak negatives
    #: How the feeds are taken from the scores (the scoring backend's; see va_app.learn.scoring).
    scored: ScoredCorpus | None = None


@dataclass(frozen=True, eq=False)
class BuildResult:
    classifier: ShotClassifier
    probabilities: np.ndarray
    feeds: dict[str, list[str]]
    n_pos: int
    n_neg: int
    model_score: float
    data_score: float
    build_ms: float
    fingerprint: str
    annotators: list[str]
    timings_ms: dict[str, float]
    #: Brier score, ECE and reliability bins of the out-of-fold predictions, raw and calibrated.
    calibration: dict = field(default_factory=dict)
    #: Unlabelled shots the classifier was fitted with as weak negatives (va_app.learn.pool).
    n_pool: int = 0


def build(
    matrix: CorpusMatrix,
    labelled: TrainingSet,
    *,
    n: int = DEFAULT_FEED_SIZE,
    seed: int = 0,
    hide_labelled: bool = False,
    min_pos: int = 10,
    min_neg: int = 10,
    k: int = 10,
    pool: PoolRule = DEFAULT_POOL,
    spread: tuple[str, ...] = (),
) -> BuildResult:
    """Train on ``labelled``, score every shot, return feeds and scores (paper §3.1–3.2)."""
    trained = train(
        matrix, labelled, hide_labelled=hide_labelled, min_pos=min_pos, min_neg=min_neg, pool=pool
    )
    return finish_build(matrix, trained, n=n, seed=seed, k=k, spread=spread)


def train(
    matrix: CorpusMatrix,
    labelled: TrainingSet,
    *,
    hide_labelled: bool = False,
    min_pos: int = 10,
    min_neg: int = 10,
    pool: PoolRule = DEFAULT_POOL,
) -> TrainedModel:
    """Fit the classifier (with ``pool`` negatives: :mod:`va_app.learn.pool`), rate and
    calibrate it on the labels alone (5-fold CV) and score every shot."""
    t0 = time.perf_counter()
    pos, neg = matrix.rows(labelled.positives), matrix.rows(labelled.negatives)
    check_trainable(len(pos), len(neg), min_pos=min_pos, min_neg=min_neg)
    labelled_rows = matrix.rows(labelled.positives + labelled.negatives + labelled.ties)
    X_train = matrix.X[np.concatenate([pos, neg])]
    y_train = np.r_[np.ones(len(pos), np.int64), np.zeros(len(neg), np.int64)]
    X_pool = matrix.X[:0]
    if pool.wanted(y_train):  # drawn only when it will count: past 380 negatives it does not
        X_pool = pool.negatives(
            X_train, y_train, matrix.X[pool.rows(matrix.n_shots, labelled_rows)]
        )
    clf = fit_with_pool(X_train, y_train, X_pool, rule=pool)
    t_fit = time.perf_counter()
    cv = cross_validate_with_pool(X_train, y_train, X_pool, rule=pool)
    clf.calibrate(cv.logits, y_train, class_weight="balanced")
    reliability = calibration_report(cv.logits, y_train, clf.calibration_)
    t_cv = time.perf_counter()
    scored = score_matrix(matrix, clf)
    t_score = time.perf_counter()
    return TrainedModel(
        classifier=clf,
        probabilities=scored.probabilities,
        pos_rows=pos,
        neg_rows=neg,
        exclude=labelled_rows if hide_labelled else None,
        model_score=cv.quality(),
        fingerprint=training_fingerprint(labelled),
        annotators=list(labelled.annotators),
        timings_ms={
            "fit": (t_fit - t0) * 1000,
            "cv": (t_cv - t_fit) * 1000,
            "score": (t_score - t_cv) * 1000,
        },
        calibration=reliability,
        n_pool=len(X_pool),
        scored=scored,
    )


def finish_build(
    matrix: CorpusMatrix,
    trained: TrainedModel,
    *,
    n: int = DEFAULT_FEED_SIZE,
    seed: int = 0,
    k: int = 10,
    spread: tuple[str, ...] = (),
) -> BuildResult:
    """The four feeds (the random one drawn with ``seed``; those in ``spread`` spread over the
    corpus's clusters) and the data-diversity score."""
    t0 = time.perf_counter()
    clusters = matrix.clusters if spread and matrix.clusters.size else None
    scored = trained.scored or ExactScores(trained.probabilities)
    feeds = scored.feeds(n, seed=seed, exclude=trained.exclude, clusters=clusters, spread=spread)
    diversity = data_score(matrix, trained.pos_rows, trained.neg_rows, k=k)
    feeds_ms = (time.perf_counter() - t0) * 1000
    return BuildResult(
        classifier=trained.classifier,
        probabilities=trained.probabilities,
        feeds={name: _ids_of(matrix, feeds[name]) for name in FEED_SOURCES},
        n_pos=len(trained.pos_rows),
        n_neg=len(trained.neg_rows),
        model_score=trained.model_score,
        data_score=diversity,
        build_ms=sum(trained.timings_ms.values()) + feeds_ms,
        fingerprint=trained.fingerprint,
        annotators=trained.annotators,
        timings_ms={**trained.timings_ms, "feeds": feeds_ms},
        calibration=trained.calibration,
        n_pool=trained.n_pool,
    )


def data_score(
    matrix: CorpusMatrix, pos_rows: np.ndarray, neg_rows: np.ndarray, *, k: int = 10
) -> float:
    """Data-diversity score of the labelled rows over the corpus's stored clusters."""
    pos_c, neg_c = matrix.clusters[pos_rows], matrix.clusters[neg_rows]
    return data_diversity_score(pos_c[pos_c >= 0], neg_c[neg_c >= 0], k=max(k, matrix.k))


def training_fingerprint(labelled: TrainingSet) -> str:
    """A short hash of the training set (ids and values), stored with every model."""
    digest = hashlib.sha256()
    for shot in labelled.positives:
        digest.update(f"+{shot}\n".encode())
    for shot in labelled.negatives:
        digest.update(f"-{shot}\n".encode())
    return digest.hexdigest()[:16]


def _ids_of(matrix: CorpusMatrix, rows: np.ndarray) -> list[str]:
    return [matrix.ids[int(i)] for i in rows]
