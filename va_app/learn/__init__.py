"""Active learning, NumPy in and out: the classifier, the four feeds, the guidance scores.

Pure functions over arrays (no store, no SQL, no Chroma): :mod:`.classifier` fits and scores,
:mod:`.pool` adds unlabelled shots to a fit as weak negatives, :mod:`.feeds` picks the shots
to show next (spread over the clusters, or not), :mod:`.scores` rates the model and the
labels, :mod:`.clusters` clusters the corpus for the diversity score.
"""

from va_app.learn.classifier import (
    MIN_NEGATIVES,
    MIN_POSITIVES,
    NotEnoughLabelsError,
    ShotClassifier,
    check_trainable,
    score_corpus,
)
from va_app.learn.clusters import ClusterModel, assign_clusters, fit_clusters
from va_app.learn.feeds import (
    FEEDS,
    borderline_feed,
    build_feeds,
    diverse_borderline_feed,
    random_feed,
    top_negative_feed,
    top_positive_feed,
)
from va_app.learn.pool import PoolRule, fit_with_pool
from va_app.learn.scores import (
    Readiness,
    cv_balanced_accuracies,
    data_diversity_score,
    model_quality_score,
    readiness,
)

__all__ = [
    "FEEDS",
    "MIN_NEGATIVES",
    "MIN_POSITIVES",
    "ClusterModel",
    "NotEnoughLabelsError",
    "PoolRule",
    "Readiness",
    "ShotClassifier",
    "assign_clusters",
    "borderline_feed",
    "build_feeds",
    "diverse_borderline_feed",
    "check_trainable",
    "cv_balanced_accuracies",
    "data_diversity_score",
    "fit_clusters",
    "fit_with_pool",
    "model_quality_score",
    "random_feed",
    "readiness",
    "score_corpus",
    "top_negative_feed",
    "top_positive_feed",
]
