"""The two guidance scores of paper §3.1 and the stopping rule built on them.

- :func:`model_quality_score` — how good the classifier is: a low percentile of balanced
  accuracy over stratified cross-validation folds (a pessimistic estimate, so one lucky fold
  cannot make a model look ready). :func:`cross_validate` runs those folds once and also
  keeps every shot's out-of-fold logit, which the build's calibration is fitted on.
- :func:`data_diversity_score` — how widely the labels cover the corpus: labels counted per
  k-means cluster of the corpus, capped, summed, normalised to [0, 1].
- :func:`readiness` — the paper's rule for "this label is done".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import config_context
from sklearn.metrics import recall_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from va_app.learn.classifier import (
    ShotClassifier,
    check_trainable,
    more_labels,
    single_threaded,
)

#: Folds of the quality estimate (paper: stratified 5-fold cross-validation).
DEFAULT_N_SPLITS = 5
#: Percentile of the fold scores reported (paper: the 25th — pessimistic but not the worst fold).
DEFAULT_PERCENTILE = 25.0
#: Clusters of the corpus for the diversity score (paper: k = 10).
DEFAULT_K = 10
#: Labels per cluster and class that count towards diversity (paper: s = 10).
DEFAULT_CAP = 10
#: Stopping rule (paper §3.1): at least this many positive labels ...
READY_MIN_POSITIVES = 100
#: ... this many negative labels ...
READY_MIN_NEGATIVES = 100
#: ... and both scores at least this high.
READY_MIN_SCORE = 0.8


@dataclass(frozen=True, eq=False)
class CrossValidation:
    """One stratified cross-validation: per-fold balanced accuracy, per-shot out-of-fold logit."""

    balanced_accuracies: np.ndarray
    logits: np.ndarray  # logits[i]: shot i scored by the fold model that did not train on it

    def quality(self, percentile: float = DEFAULT_PERCENTILE) -> float:
        """The ``percentile``-th percentile of the fold scores (see :func:`model_quality_score`)."""
        if not 0 <= percentile <= 100:
            raise ValueError(f"percentile must be within 0..100, got {percentile}")
        return float(np.percentile(self.balanced_accuracies, percentile))


def cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_splits: int = DEFAULT_N_SPLITS,
    random_state: int = 0,
    estimator: ShotClassifier | None = None,
    pool: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> CrossValidation:
    """Stratified cross-validation: each fold's balanced accuracy, each shot's out-of-fold logit.

    Folds come from ``StratifiedKFold(n_folds, shuffle=True, random_state=random_state)``
    with ``n_folds = min(n_splits, n_positives, n_negatives)``: every test fold then holds at
    least one shot of each class, so a class with fewer than ``n_splits`` members gets fewer
    folds (3 positives → 3 folds). Needs at least 2 of each class. Each fold fits a clone of
    ``estimator`` (default :class:`ShotClassifier`) on the other folds
    (``cross_val_predict(method="decision_function")``) and scores ``BA = (TPR + TNR) / 2``
    (:func:`fold_balanced_accuracies`) on its own, thresholding the fold model's raw logit at 0
    (its uncalibrated p at 0.5; the fold models are not calibrated).

    ``pool`` (rows of unlabelled shots, :mod:`va_app.learn.pool`) joins every fold's training
    as negatives — each pool row in one fold, so each fold model sees the others — and is
    never scored: balanced accuracies and logits are the labelled rows' alone.
    ``sample_weight`` weighs the labelled rows and then the pool rows.
    """
    X, y = np.asarray(X), _binary(y)
    n_pos = int(np.count_nonzero(y))
    check_trainable(n_pos, y.size - n_pos, min_pos=2, min_neg=2, purpose="estimate model quality")
    n_folds = min(n_splits, n_pos, y.size - n_pos)
    folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=random_state).split(X, y))
    if pool is not None and len(pool):
        folds = _with_pool(folds, y.size, len(pool))
        X, y = (
            np.concatenate([X, np.asarray(pool, dtype=X.dtype)]),
            np.r_[y, np.zeros(len(pool), y.dtype)],
        )
    template = ShotClassifier() if estimator is None else estimator
    params = None if sample_weight is None else {"sample_weight": np.asarray(sample_weight)}
    with single_threaded(), config_context(assume_finite=True, skip_parameter_validation=True):
        oof = cross_val_predict(template, X, y, cv=folds, method="decision_function", params=params)
        n = y.size - (0 if pool is None else len(pool))
        scores = fold_balanced_accuracies(y[:n], oof[:n] > 0, folds)
    return CrossValidation(scores, oof[:n].astype(np.float32))


def fold_balanced_accuracies(
    y: np.ndarray, predicted: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Each fold's balanced accuracy — the mean of its two classes' recalls — on the rows
    ``< len(y)`` of its test part, from one ``recall_score(average=None)`` over all folds
    (each fold's classes as labels of their own): ``balanced_accuracy_score`` per fold gives
    the same numbers at five times the cost (3.7 ms a build here, 5 % of one at 500k shots).
    """
    n_folds = len(folds)
    fold_of = np.empty(y.size, dtype=np.intp)
    for k, (_, test) in enumerate(folds):
        fold_of[test[test < y.size]] = k
    recalls = recall_score(
        2 * fold_of + y,
        2 * fold_of + np.asarray(predicted, dtype=np.intp),
        labels=np.arange(2 * n_folds),
        average=None,
        zero_division=0.0,
    )
    return recalls.reshape(n_folds, 2).mean(axis=1)


def _with_pool(
    folds: list[tuple[np.ndarray, np.ndarray]], n_labelled: int, n_pool: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The labelled folds with pool rows ``n_labelled + i`` dealt out in turn (i mod folds)."""
    pool_fold = np.arange(n_pool) % len(folds)
    out = []
    for k, (train, test) in enumerate(folds):
        mine = n_labelled + np.flatnonzero(pool_fold == k)
        others = n_labelled + np.flatnonzero(pool_fold != k)
        out.append((np.r_[train, others], np.r_[test, mine]))
    return out


def cv_balanced_accuracies(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_splits: int = DEFAULT_N_SPLITS,
    random_state: int = 0,
    estimator: ShotClassifier | None = None,
) -> np.ndarray:
    """Balanced accuracy of each stratified cross-validation fold, in fold order
    (:func:`cross_validate`'s ``balanced_accuracies``)."""
    return cross_validate(
        X, y, n_splits=n_splits, random_state=random_state, estimator=estimator
    ).balanced_accuracies


def model_quality_score(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_splits: int = DEFAULT_N_SPLITS,
    percentile: float = DEFAULT_PERCENTILE,
    random_state: int = 0,
    estimator: ShotClassifier | None = None,
) -> float:
    """The ``percentile``-th percentile of the folds' balanced accuracies (paper: 25th of 5).

    ``np.percentile`` with linear interpolation: with 5 folds the 25th percentile is exactly
    the second-worst fold; with 3 folds, the mean of the worst two. Folds as in
    :func:`cv_balanced_accuracies`. 1.0 is perfect, ~0.5 is chance.
    """
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be within 0..100, got {percentile}")
    cv = cross_validate(X, y, n_splits=n_splits, random_state=random_state, estimator=estimator)
    return cv.quality(percentile)


def capped_cluster_counts(
    clusters: np.ndarray, *, k: int = DEFAULT_K, cap: int = DEFAULT_CAP
) -> np.ndarray:
    """Labels per cluster, ``min(count_c, cap)`` for c in 0..k−1 (shape ``(k,)``)."""
    clusters = np.asarray(clusters)
    if clusters.ndim != 1 or (clusters.size and not np.issubdtype(clusters.dtype, np.integer)):
        raise ValueError("clusters must be a 1-D array of cluster ids, one per labelled shot")
    if clusters.size and (clusters.min() < 0 or clusters.max() >= k):
        raise ValueError(
            f"cluster ids must lie in 0..{k - 1} (k={k}); got {clusters.min()}..{clusters.max()}"
            " — was k taken from the cluster model?"
        )
    return np.minimum(np.bincount(clusters, minlength=k), cap)


def data_diversity_score(
    clusters_pos: np.ndarray,
    clusters_neg: np.ndarray,
    *,
    k: int = DEFAULT_K,
    cap: int = DEFAULT_CAP,
) -> float:
    """How evenly labels cover the corpus's k clusters (paper §3.1), in [0, 1].

    ``score = (Σ_c min(pos_c, s) + Σ_c min(neg_c, s)) / (2·k·s)`` where ``pos_c`` / ``neg_c``
    count the positive / negative labels whose shot lies in cluster c and ``s = cap``.
    ``clusters_pos`` and ``clusters_neg`` are the cluster ids of the labelled shots.
    1.0 means at least ``cap`` positives and ``cap`` negatives in every cluster.
    """
    if k < 1 or cap < 1:
        raise ValueError(f"k and cap must be at least 1, got k={k}, cap={cap}")
    covered = capped_cluster_counts(clusters_pos, k=k, cap=cap).sum()
    covered += capped_cluster_counts(clusters_neg, k=k, cap=cap).sum()
    return float(covered / (2 * k * cap))


@dataclass(frozen=True)
class Readiness:
    """Whether a label meets the stopping rule, and why (or what is missing), in words."""

    ready: bool
    reason: str


def readiness(
    n_pos: int,
    n_neg: int,
    model_score: float | None,
    data_score: float | None,
    *,
    min_pos: int = READY_MIN_POSITIVES,
    min_neg: int = READY_MIN_NEGATIVES,
    min_score: float = READY_MIN_SCORE,
) -> Readiness:
    """Paper's stopping rule: ≥ ``min_pos`` positives, ≥ ``min_neg`` negatives, and model
    quality and data diversity both ≥ ``min_score``. ``None`` means "not computed yet".
    """
    missing = []
    if n_pos < min_pos:
        missing.append(more_labels(min_pos - n_pos, "positive"))
    if n_neg < min_neg:
        missing.append(more_labels(min_neg - n_neg, "negative"))
    for name, value in (("model quality", model_score), ("data diversity", data_score)):
        if value is None:
            missing.append(f"a {name} score (build a model)")
        elif value < min_score:
            missing.append(f"{name} ≥ {min_score:.2f} (now {value:.2f})")
    if missing:
        return Readiness(False, "Not ready: needs " + "; ".join(missing) + ".")
    return Readiness(
        True,
        f"Ready: {n_pos} positives, {n_neg} negatives, model quality {model_score:.2f}, "
        f"data diversity {data_score:.2f} (all ≥ {min_score:.2f}).",
    )


def _binary(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or (y.dtype != bool and not np.isin(y, (0, 1)).all()):
        raise ValueError("y must be a 1-D array of binary labels (1/True = positive)")
    return y.astype(np.int8)
