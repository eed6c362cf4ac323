"""The shot classifier: logistic regression on shot embeddings, and scoring the whole corpus.

Owns :class:`ShotClassifier` (a scikit-learn style estimator wrapping ``LogisticRegression``),
the gate that says how many more labels a build needs (:func:`check_trainable`), and
:func:`score_corpus`, the one pass over the ``N × D`` embedding matrix that every build makes.

Scoring is ``p = σ(slope·(X·w + b) + offset)`` — the raw logit through the Platt calibration
the build fits (``va_app.learn.calibration``; identity until then) — computed in float32 with
one matrix-vector product: the calibration is folded into the weights, so scoring the corpus
costs about one read of the matrix (sklearn's ``predict_proba`` would add a
finite-value check over the whole matrix and, with a float64 ``coef_``, an upcast of X).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

from va_app.errors import ValidationError
from va_app.learn.calibration import PlattScaling

#: Fewest positive labels before "Build" unlocks (paper §3: 10 of each, found by search).
MIN_POSITIVES = 10
#: Fewest negative labels before "Build" unlocks.
MIN_NEGATIVES = 10
#: Inverse regularisation strength. Unit-norm embeddings suggest a larger C, but on synthetic
#: clustered corpora of unit vectors (mean cosine 0.5, like CLIP; 20–1,000 labels; 5 label
#: sets each) C = 1 was within ~0.01 of the best average precision on average, C = 3 tied, and
#: C ≥ 10 lost up to 0.05–0.2 with noisy labels at 1,000 labels; larger C won only on tight,
#: cleanly separable clusters with ≤ 50 labels. C = 1 is also the fastest fit.
DEFAULT_C = 1.0
#: lbfgs converges in well under 1,000 iterations on unit-norm embeddings; the cap only guards
#: against pathological inputs.
DEFAULT_MAX_ITER = 1000
#: Serialisation tag written by :meth:`ShotClassifier.to_dict`; bump when the layout changes.
#: /2 adds the calibration; /1 (stored before calibration) still reads, as uncalibrated.
FORMAT = "va_app.learn.ShotClassifier/2"
READABLE_FORMATS = ("va_app.learn.ShotClassifier/1", FORMAT)
#: What a fit on one class says it needs (scikit-learn's checks look for "one class").
ONE_CLASS_PURPOSE = "train a classifier on more than one class"


def more_labels(n: int, kind: str) -> str:
    """What a count-down says is still missing: "3 more positives", "1 more negative"."""
    return f"{n} more {kind}{'' if n == 1 else 's'}"


class NotEnoughLabelsError(ValidationError, ValueError):
    """Too few positive or negative labels to train (or to cross-validate) a classifier.

    Also a ``ValueError``, as scikit-learn expects of an estimator refusing its input."""

    def __init__(self, n_pos: int, n_neg: int, *, min_pos: int, min_neg: int, purpose: str) -> None:
        self.n_pos, self.n_neg = n_pos, n_neg
        self.min_pos, self.min_neg = min_pos, min_neg
        self.missing_pos = max(0, min_pos - n_pos)
        self.missing_neg = max(0, min_neg - n_neg)
        super().__init__(self._message(purpose))

    def _message(self, purpose: str) -> str:
        needs = [
            more_labels(missing, kind)
            for missing, kind in ((self.missing_pos, "positive"), (self.missing_neg, "negative"))
            if missing
        ]
        if self.min_pos == self.min_neg:
            minimum = f"minimum {self.min_pos} each"
        else:
            minimum = f"minimum {self.min_pos} positives and {self.min_neg} negatives"
        have = f"have {self.n_pos} / {self.n_neg}"
        return f"Need {' and '.join(needs)} to {purpose} ({have}; {minimum})."


def check_trainable(
    n_pos: int,
    n_neg: int,
    *,
    min_pos: int = MIN_POSITIVES,
    min_neg: int = MIN_NEGATIVES,
    purpose: str = "build",
) -> None:
    """Raise :class:`NotEnoughLabelsError` unless ``n_pos ≥ min_pos`` and ``n_neg ≥ min_neg``.

    The message says what is missing, e.g. "Need 3 more positives and 7 more negatives to
    build (have 7 / 3; minimum 10 each)." — counts are positives / negatives.
    """
    if n_pos < min_pos or n_neg < min_neg:
        raise NotEnoughLabelsError(
            int(n_pos), int(n_neg), min_pos=min_pos, min_neg=min_neg, purpose=purpose
        )


@functools.cache
def _thread_controller() -> ThreadpoolController:
    # Built once: a fresh threadpool_limits() rescans the loaded libraries (~2 ms per call).
    # numpy's and scipy's OpenBLAS and sklearn's OpenMP are all loaded by this module's imports.
    return ThreadpoolController()


_single_thread_lock = threading.RLock()
_single_thread_depth = 0


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run the block with every BLAS/OpenMP pool at one thread, then restore them.

    Small fits are faster on one thread: numpy's and scipy's OpenBLAS otherwise fight over
    the cores (on 2 cores a 1,000-label fit took 72 ms instead of 4 ms). Never set globally —
    the corpus scan needs every thread. OpenBLAS's pool is process-wide, and threadpoolctl
    restores what it saw on entry: two threads limiting at once (Streamlit sessions are
    threads) could leave it at one thread for good. So blocks run one at a time (a fit
    takes milliseconds) and nested blocks reuse the outer limit.
    """
    global _single_thread_depth
    with _single_thread_lock:
        outer = _single_thread_depth > 0
        with nullcontext() if outer else _thread_controller().limit(limits=1):
            _single_thread_depth += 1
            try:
                yield
            finally:
                _single_thread_depth -= 1


class ShotClassifier(ClassifierMixin, BaseEstimator):
    """Binary logistic regression on embeddings: ``p(positive | x) = σ(x·coef_ + intercept_)``.

    Fitted with scikit-learn's ``LogisticRegression`` (lbfgs, L2 penalty), single-threaded and
    deterministic: the same ``X, y`` and parameters give the same ``coef_``. A scikit-learn
    estimator that passes ``parametrize_with_checks`` (tests/unit/test_estimator_checks.py):
    labels may be any two classes (``classes_`` sorted, the second is "positive"; the app
    passes 0/1 or booleans), ``sample_weight`` weighs rows. Binary only (its tags say so).

    ``class_weight="balanced"`` (the default) weights each class by ``n / (2·n_class)``: the
    labels an expert collects are rarely balanced (top-positive feeds add mostly positives,
    search adds mostly whatever the query found), the model-quality score is *balanced*
    accuracy, and with balanced weights p = 0.5 stays the natural borderline.

    Probabilities are calibrated: :meth:`calibrate` sets a Platt map from out-of-fold logits
    (the build does it after its cross-validation); ``fit`` alone leaves the identity.
    :meth:`decision_function` stays the raw logit, :meth:`predict_proba` and :meth:`predict`
    use the calibrated probability. ``decision_function`` and ``predict_proba`` check shape
    and dtype but not finiteness (a finite-value check over a corpus costs as much as scoring
    it; a non-finite embedding scores NaN); ``predict`` checks.

    Fitted attributes: ``coef_`` (float32, shape ``(D,)``), ``intercept_`` (float),
    ``calibration_`` (:class:`PlattScaling`), ``classes_``, ``n_features_in_``, ``n_iter_``.
    """

    def __init__(
        self,
        *,
        C: float = DEFAULT_C,
        class_weight: str | dict | None = "balanced",
        max_iter: int = DEFAULT_MAX_ITER,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> ShotClassifier:
        """Fit on embeddings ``X`` (n × D) and two-class labels ``y`` (1/True = positive)."""
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        if np.unique(y).size > 2:
            raise ValueError(
                "Only binary classification is supported. y must be binary: 1/True = "
                f"positive, 0/False = negative (got {np.unique(y).size} classes)"
            )
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        _check_two_classes(y, sample_weight)
        model = LogisticRegression(
            C=self.C, class_weight=self.class_weight, max_iter=self.max_iter, solver="lbfgs"
        )
        with single_threaded():
            model.fit(X, y, sample_weight=sample_weight)
        self.coef_ = model.coef_[0].astype(np.float32)
        self.intercept_ = float(model.intercept_[0])
        self.calibration_ = PlattScaling()
        self.classes_ = model.classes_
        self.n_iter_ = int(model.n_iter_.max())
        return self

    def calibrate(
        self, out_of_fold_logits: np.ndarray, y: np.ndarray, *, class_weight: str | None = None
    ) -> ShotClassifier:
        """Fit the Platt map on logits predicted for shots outside each fold's training set.

        ``y`` is 1/True for positive; ``class_weight`` weighs the calibration's labels
        (default: the classifier's own ``class_weight`` when it is a string, else none).
        """
        check_is_fitted(self, "coef_")
        y = _check_binary_labels(y, n_rows=np.size(out_of_fold_logits))
        if class_weight is None and isinstance(self.class_weight, str):
            class_weight = self.class_weight
        with single_threaded():  # a 2-parameter fit: threads only fight (10× slower here)
            self.calibration_ = PlattScaling.fit(out_of_fold_logits, y, class_weight=class_weight)
        return self

    def calibrated_weights(self) -> tuple[np.ndarray, float]:
        """``(w', b')`` with ``X·w' + b'`` the calibrated logit (float32 ``w'``)."""
        check_is_fitted(self, "coef_")
        return self.calibration_.fold_into(self.coef_, self.intercept_)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Logits ``X·coef_ + intercept_``: float32 for float32 embeddings (no copy), else
        float64 (other inputs are converted as scikit-learn does)."""
        check_is_fitted(self, "coef_")
        X = self._features(X)
        logits = X @ self.coef_.astype(X.dtype, copy=False)
        logits += X.dtype.type(self.intercept_)
        return logits

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``[[1 − p, p], ...]`` like scikit-learn; p the calibrated probability, in float32
        for float32 embeddings (:func:`score_corpus`), else in float64."""
        check_is_fitted(self, "coef_")
        X = self._features(X)
        if X.dtype == np.float32:
            p = score_corpus(X, self)
        else:
            w, b = self.calibrated_weights()
            p = expit(X @ w.astype(X.dtype) + b)
        return np.column_stack([1 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The positive class where the calibrated ``p > 0.5``, else the negative one."""
        check_is_fitted(self, "coef_")
        X = self._features(X, ensure_all_finite=True)
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(np.intp)]

    def _features(self, X: Any, *, ensure_all_finite: bool = False) -> np.ndarray:
        return validate_data(
            self,
            X,
            reset=False,
            dtype=(np.float32, np.float64),
            ensure_all_finite=ensure_all_finite,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (lists and floats); float32 weights survive the round trip."""
        check_is_fitted(self, "coef_")
        return {
            "format": FORMAT,
            "params": self.get_params(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
            "calibration": self.calibration_.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShotClassifier:
        """Rebuild a fitted classifier from :meth:`to_dict`'s output (classes 0 and 1)."""
        if data.get("format") not in READABLE_FORMATS:
            raise ValidationError(
                f"not a saved shot classifier (format {data.get('format')!r}, expected {FORMAT!r})"
            )
        clf = cls(**data["params"])
        coef = np.asarray(data["coef"], dtype=np.float32)
        if coef.ndim != 1 or coef.size == 0:
            raise ValidationError("saved shot classifier has no weights")
        clf.coef_ = coef
        clf.intercept_ = float(data["intercept"])
        clf.calibration_ = PlattScaling.from_dict(data.get("calibration"))
        clf.classes_ = np.array([0, 1])
        clf.n_features_in_ = coef.size
        clf.n_iter_ = 0
        return clf


def score_corpus(X: Any, clf: ShotClassifier, *, chunk_rows: int | None = None) -> np.ndarray:
    """Calibrated probability of positive for every row of ``X``: ``σ(X·w' + b')`` with the
    calibration folded into ``w', b'``; float32, shape ``(N,)``.

    One pass over ``X`` — the floor of a build. ``X`` is a float32 ndarray, or anything with
    ``shape`` and row slicing (``np.memmap``, ``h5py.Dataset``) when ``chunk_rows`` is given:
    then rows are read, cast to float32 and scored ``chunk_rows`` at a time, so memory stays
    bounded by one chunk. No finite-value check is made on the matrix (it would cost as much
    as the product itself); non-finite embeddings give NaN scores.
    """
    check_is_fitted(clf, "coef_")
    w, b = clf.calibrated_weights()
    bias = np.float32(b)
    n_rows = _check_corpus_shape(X, w.size)
    if chunk_rows is None:
        out = np.asarray(X, dtype=np.float32) @ w
    else:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
        out = np.empty(n_rows, dtype=np.float32)
        for start in range(0, n_rows, chunk_rows):
            stop = min(start + chunk_rows, n_rows)
            np.matmul(np.asarray(X[start:stop], dtype=np.float32), w, out=out[start:stop])
    out += bias
    return expit(out, out=out)


def _check_corpus_shape(X: Any, n_features: int) -> int:
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"corpus must be a 2-D matrix (shots × dims), got shape {shape}")
    if shape[1] != n_features:
        raise ValueError(
            f"corpus has {shape[1]}-d embeddings but the classifier was trained on {n_features}-d"
        )
    return int(shape[0])


def _check_two_classes(y: np.ndarray, sample_weight: np.ndarray | None) -> None:
    """Refuse labels of one class (also when ``sample_weight`` leaves only one), saying what
    is missing; 1/True count as positives. Weights of the wrong shape are left to sklearn."""
    kept = y
    if sample_weight is not None and sample_weight.shape == y.shape:
        if not sample_weight.sum() > 0:
            raise ValueError("sample_weight sums to zero: no row has any weight to learn from")
        kept = y[sample_weight > 0]
    if np.unique(kept).size < 2:
        n_pos = int(np.count_nonzero(np.isin(kept, (1, True)))) if kept.dtype != object else 0
        check_trainable(n_pos, kept.size - n_pos, min_pos=1, min_neg=1, purpose=ONE_CLASS_PURPOSE)


def _check_binary_labels(y: Any, *, n_rows: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.size != n_rows:
        raise ValueError(f"y must be 1-D with one label per row of X ({n_rows}), got {y.shape}")
    if y.dtype != bool and not np.isin(y, (0, 1)).all():
        raise ValueError("y must be binary: 1/True = positive, 0/False = negative")
    return y.astype(np.int8)
