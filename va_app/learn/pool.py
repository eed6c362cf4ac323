"""Pool negatives: a random sample of unlabelled shots joins every fit as weak negatives.

Before the first builds an expert's labels are text hits and their near misses: a classifier
fitted on them alone has seen one corner of the corpus and ranks the rest at random. Agile
Modeling (Stretcu et al., ICCV 2023) fits its concept classifiers with a large sample of
*unlabelled* images as negatives — a rare concept's random image is almost always negative —
so the first model already pushes the whole corpus down and lifts only what resembles the
positives. We do the same, with a rule that fades as real negatives come in:

- **count**: :data:`POOL_SIZE` shots drawn at random from the corpus (seeded: the same labels
  give the same pool and the same model), never a labelled shot (positive, negative or tie)
  and never one the caller holds out;
- **weight**: the classes stay balanced as in an ordinary build (positives and negatives each
  carry half of the total weight ``n`` = number of labels), and within the negatives the
  whole pool counts as :data:`POOL_PRIOR` labelled negatives: each labelled negative weighs
  ``n / (2·(n₋ + prior))``, each pool shot ``n·prior / (2·m·(n₋ + prior))``. With 10
  negatives the pool carries 2/3 of the negative weight, with 100 a sixth; ``prior = 0`` is
  exactly the ordinary balanced fit. Once the pool would weigh less than
  :data:`POOL_MIN_SHARE` of the negatives (beyond 380 labelled negatives) it is left out;
- **screen**: only pool shots the labels already put on the negative side join
  (:func:`reliable_negatives`: closer to the labelled negatives' mean direction than to the
  positives'), so a common concept's positives among them do not teach the opposite.

The pool only ever *trains*: the model-quality score and the calibration are computed on the
expert's labels alone (:func:`va_app.learn.scores.cross_validate` keeps pool rows out of
every score), and an exported model is the same linear scorer as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from va_app.learn.classifier import ShotClassifier
from va_app.learn.scores import CrossValidation, cross_validate

#: Unlabelled shots drawn per fit. 512 rows of 512-d cost ~1 ms per lbfgs fit here and
#: represent the corpus's layout far beyond its 10 k-means clusters.
POOL_SIZE = 512
#: How many labelled negatives the whole pool is worth (see the module docstring).
POOL_PRIOR = 20.0
#: Seed of the pool's draw: fixed, so a build is a function of its labels.
POOL_SEED = 0
#: Below this share of the negative class's weight the pool is left out: with a prior of 20,
#: beyond 380 labelled negatives. Its effect is then nil by construction, its cost is not
#: (it would add ~25 % to a build at 500k shots and 1,000 labels).
POOL_MIN_SHARE = 0.05
#: How pool shots are screened before they count as negatives (:func:`reliable_negatives`).
SCREENS = ("rocchio", "fit", "none")
DEFAULT_SCREEN = "rocchio"


@dataclass(frozen=True)
class PoolRule:
    """How many unlabelled shots join a fit as negatives, and what they weigh together."""

    size: int = POOL_SIZE
    prior: float = POOL_PRIOR
    seed: int = POOL_SEED
    screen: str = DEFAULT_SCREEN

    def __post_init__(self) -> None:
        if self.size < 0 or not self.prior >= 0:
            raise ValueError(f"pool size and prior must be ≥ 0, got {self.size}, {self.prior}")
        if self.screen not in SCREENS:
            raise ValueError(
                f"pool screen must be one of {', '.join(SCREENS)}, got {self.screen!r}"
            )

    @property
    def active(self) -> bool:
        return self.size > 0 and self.prior > 0

    def rows(self, n_shots: int, taken: np.ndarray) -> np.ndarray:
        """Up to :attr:`size` row indices of ``0..n_shots-1`` not in ``taken``, ascending."""
        return pool_rows(n_shots, taken, size=self.size if self.active else 0, seed=self.seed)

    def negatives(self, X: np.ndarray, y: np.ndarray, pool: np.ndarray) -> np.ndarray:
        """The ``pool`` rows kept as negatives, screened by :attr:`screen` (see
        :func:`reliable_negatives`): ``"rocchio"`` or ``"fit"`` keep those the labels already
        call negative, ``"none"`` all of them."""
        if not len(pool) or not self.wanted(y):
            return pool[:0]
        return pool if self.screen == "none" else reliable_negatives(X, y, pool, by=self.screen)

    def wanted(self, y: np.ndarray) -> bool:
        """Whether labels ``y`` get a pool: the rule is active and the pool would weigh at
        least :data:`POOL_MIN_SHARE` of the negatives."""
        return self.active and self.share(y) >= POOL_MIN_SHARE

    def share(self, y: np.ndarray) -> float:
        """The pool's share of the negative class's weight with these labels: ``prior /
        (n₋ + prior)``."""
        n_neg = int(np.size(y) - np.count_nonzero(y))
        return self.prior / (n_neg + self.prior) if self.prior else 0.0

    def weights(self, y: np.ndarray, n_pool: int) -> np.ndarray:
        """Sample weights of the labelled rows ``y`` (1 = positive) and then the pool's."""
        return pool_weights(y, n_pool, prior=self.prior)


#: No pool: the ordinary fit on the labels alone.
NO_POOL = PoolRule(size=0)


def pool_rows(n_shots: int, taken: np.ndarray, *, size: int, seed: int = POOL_SEED) -> np.ndarray:
    """``size`` distinct random rows of ``0..n_shots-1`` outside ``taken``, ascending
    (fewer when fewer are left). Draws ``size + len(taken)`` rows without shuffling the
    whole corpus and drops the taken ones, so it costs microseconds at 500k shots."""
    taken = np.unique(np.asarray(taken, dtype=np.intp))
    free = n_shots - taken.size
    size = min(size, max(free, 0))
    if size == 0:
        return np.empty(0, dtype=np.intp)
    drawn = np.random.default_rng(seed).choice(
        n_shots, size=min(n_shots, size + taken.size), replace=False
    )
    kept = drawn[~np.isin(drawn, taken)][:size]
    return np.sort(kept).astype(np.intp)


def reliable_negatives(
    X: np.ndarray, y: np.ndarray, pool: np.ndarray, *, by: str = DEFAULT_SCREEN
) -> np.ndarray:
    """The ``pool`` rows the labels ``X, y`` already put on the negative side: the first step
    of two-step positive-unlabelled learning. A common concept's random shot is often positive
    — 42 % of the 2,000-shot demo is "day" — and fitting those as negatives taught the model
    the opposite of its labels; the shots the labels call negative are safe to add.

    ``by="rocchio"`` (Li & Liu, IJCAI 2003): a pool shot closer (cosine) to the labelled
    negatives' mean direction than to the positives' — a few microseconds. ``by="fit"``: a
    classifier fitted on the labels alone gives it a raw logit < 0 — one more fit per build.
    """
    if by == "fit":
        return pool[ShotClassifier().fit(X, y).decision_function(pool) < 0]
    positive = np.asarray(y).astype(bool)
    towards = _unit(X[positive].mean(axis=0)) - _unit(X[~positive].mean(axis=0))
    return pool[np.asarray(pool) @ towards.astype(pool.dtype) < 0]


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def pool_weights(y: np.ndarray, n_pool: int, *, prior: float = POOL_PRIOR) -> np.ndarray:
    """Weights of ``[labelled rows..., pool rows...]`` by the rule of the module docstring.

    ``y`` marks positives with 1/True; needs at least one of each class. The weights sum to
    ``y.size`` (the labels' count), as a balanced fit's do.
    """
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("pool weights need positive and negative labels")
    total = float(y.size)
    prior = prior if n_pool else 0.0
    labelled = np.where(y, total / (2 * n_pos), total / (2 * (n_neg + prior)))
    pool = np.full(n_pool, total * prior / (2 * n_pool * (n_neg + prior)) if n_pool else 0.0)
    return np.concatenate([labelled, pool])


def fit_with_pool(
    X: np.ndarray, y: np.ndarray, pool: np.ndarray | None, *, rule: PoolRule = PoolRule()
) -> ShotClassifier:
    """The build's classifier on labelled rows ``X, y`` and the pool rows kept as negatives
    (:meth:`PoolRule.negatives`).

    With a pool: an unweighted-class :class:`ShotClassifier` with :func:`pool_weights` as
    sample weights. Without one (or with an inactive rule): the ordinary balanced fit.
    """
    if pool is None or not len(pool) or not rule.active:
        return ShotClassifier().fit(X, y)
    return ShotClassifier(class_weight=None).fit(
        np.concatenate([X, np.asarray(pool, dtype=X.dtype)]),
        np.r_[np.asarray(y, dtype=np.int8), np.zeros(len(pool), np.int8)],
        sample_weight=rule.weights(y, len(pool)),
    )


def cross_validate_with_pool(
    X: np.ndarray, y: np.ndarray, pool: np.ndarray | None, *, rule: PoolRule = PoolRule()
) -> CrossValidation:
    """:func:`~va_app.learn.scores.cross_validate` of :func:`fit_with_pool`'s recipe: the
    pool trains every fold, only the labels are scored."""
    if pool is None or not len(pool) or not rule.active:
        return cross_validate(X, y, random_state=0)
    return cross_validate(
        X,
        y,
        random_state=0,
        estimator=ShotClassifier(class_weight=None),
        pool=pool,
        sample_weight=rule.weights(y, len(pool)),
    )
