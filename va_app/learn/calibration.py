"""Calibrated probabilities: Platt scaling of the classifier's logits, and how to judge it.

The classifier's raw probabilities ``σ(x·w + b)`` rank shots well but are squashed towards
0.5 (L2 penalty C = 1 on unit-norm embeddings: a clear positive reads 0.57). Platt scaling maps
a raw logit ``z`` to ``p = σ(slope·z + offset)``, fitted on the *out-of-fold* logits of the
5-fold cross-validation the build already runs, so the map is learnt on predictions the model
made for shots it had not seen. It is strictly increasing (``slope > 0``): every ranking —
feeds, average precision — stays exactly as it was; only the numbers an expert reads change.

The fit is scikit-learn's own Platt method (``CalibratedClassifierCV(method="sigmoid")``,
Newton steps with Platt's target priors ``(N₊+1)/(N₊+2)`` and ``1/(N₋+2)``) applied to the
out-of-fold logits as they are: a frozen pass-through "classifier" hands them over, so no
cross-validation is rerun.

Owns :class:`PlattScaling` and the measures of calibration: :func:`brier_score` (scikit-learn's
``brier_score_loss``), :func:`reliability_bins` (``calibration_curve``'s bins, with their
counts) and :func:`expected_calibration_error` over them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, logit
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss
from sklearn.utils.class_weight import compute_sample_weight

from va_app.errors import ValidationError

#: Smallest slope kept: when out-of-fold logits carry no signal (slope ≤ 0 fitted) the map
#: becomes almost flat but stays increasing, so rankings never flip.
MIN_SLOPE = 1e-3
#: Bins of the reliability curve and of the expected calibration error (equal width on [0, 1]).
DEFAULT_BINS = 10


@dataclass(frozen=True)
class PlattScaling:
    """``p = σ(slope · z + offset)`` for a raw logit ``z``; the identity is (1, 0)."""

    slope: float = 1.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.slope) and np.isfinite(self.offset)) or self.slope <= 0:
            raise ValidationError(
                f"bad calibration (slope {self.slope}, offset {self.offset}): "
                "slope must be positive and both finite"
            )

    @classmethod
    def fit(
        cls, logits: np.ndarray, y: np.ndarray, *, class_weight: str | None = "balanced"
    ) -> PlattScaling:
        """Fit on out-of-fold ``logits`` and binary labels ``y`` (sklearn's Platt method).

        ``class_weight="balanced"`` weighs the classes equally, as the classifier does: the
        labelled mix follows the feeds, not the corpus, and p = 0.5 then stays the borderline.
        """
        z, y = np.asarray(logits, dtype=np.float64), np.asarray(y).astype(np.int8)
        if z.ndim != 1 or z.shape != y.shape or np.unique(y).size != 2:
            raise ValidationError("calibration needs one logit per label and both classes")
        weights = compute_sample_weight(class_weight, y) if class_weight else None
        slope, offset = _platt_fit(z, y, weights)
        if slope < MIN_SLOPE:
            return cls(MIN_SLOPE, float(logit(np.average(y, weights=weights))))
        return cls(slope, offset)

    def logits(self, z: np.ndarray) -> np.ndarray:
        """Calibrated logits ``slope · z + offset`` (same dtype as a float ``z``)."""
        z = np.asarray(z)
        if z.dtype.kind != "f":
            z = z.astype(np.float64)
        return z * z.dtype.type(self.slope) + z.dtype.type(self.offset)

    def probabilities(self, z: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``σ(slope · z + offset)``."""
        return expit(self.logits(z))

    def fold_into(self, coef: np.ndarray, intercept: float) -> tuple[np.ndarray, float]:
        """Weights and bias of the calibrated linear score: ``slope·w`` and ``slope·b + offset``.

        Scoring the corpus then stays one pass ``X @ w'`` — the calibration costs nothing.
        """
        return (coef * coef.dtype.type(self.slope)).astype(
            coef.dtype
        ), self.slope * intercept + self.offset

    def to_dict(self) -> dict[str, Any]:
        return {"method": "platt", "slope": self.slope, "offset": self.offset}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PlattScaling:
        """Read :meth:`to_dict`'s output; ``None`` (a file from before calibration) = identity."""
        if data is None:
            return cls()
        if data.get("method") != "platt":
            raise ValidationError(f"unknown calibration method {data.get('method')!r}")
        return cls(float(data["slope"]), float(data["offset"]))


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared error of the probabilities, ``mean((p − y)²)`` (scikit-learn's
    ``brier_score_loss``): 0 is perfect; always saying 0.5 scores 0.25."""
    y, p = _check_pairs(y, p)
    return float(brier_score_loss(y, p, pos_label=1))


def reliability_bins(y: np.ndarray, p: np.ndarray, *, n_bins: int = DEFAULT_BINS) -> dict:
    """Per equal-width bin of ``p``: ``count``, ``mean_predicted`` and ``observed`` (share of
    positives); empty bins are left out. The bins are ``calibration_curve``'s ("uniform"): bin
    0 holds ``0 ≤ p ≤ 1/n``, bin b holds ``b/n < p ≤ (b+1)/n``."""
    y, p = _check_pairs(y, p)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.searchsorted(edges[1:-1], p)  # how calibration_curve bins, for the counts
    count = np.bincount(which, minlength=n_bins)
    observed, mean_predicted = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    kept = count > 0
    return {
        "bin": np.flatnonzero(kept),
        "count": count[kept],
        "mean_predicted": mean_predicted,
        "observed": observed,
    }


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, *, n_bins: int = DEFAULT_BINS
) -> float:
    """``ECE = Σ_b (n_b / N) · |observed_b − mean_predicted_b|`` over equal-width bins."""
    return _ece(reliability_bins(y, p, n_bins=n_bins))


def _ece(bins: Mapping[str, np.ndarray]) -> float:
    gaps = np.abs(bins["observed"] - bins["mean_predicted"])
    return float(np.sum(bins["count"] * gaps) / np.sum(bins["count"]))


def calibration_report(
    logits: np.ndarray, y: np.ndarray, calibration: PlattScaling, *, n_bins: int = DEFAULT_BINS
) -> dict[str, Any]:
    """Brier score, ECE and reliability bins of raw ``σ(z)`` and calibrated probabilities.

    Plain lists and floats (stored with the model version; the dashboard draws them).
    """
    out: dict[str, Any] = {"n": int(np.size(y)), **calibration.to_dict()}
    with _checked_inputs():
        out.update(_report_kinds(logits, y, calibration, n_bins))
    return out


def _report_kinds(
    logits: np.ndarray, y: np.ndarray, calibration: PlattScaling, n_bins: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, p in (
        ("raw", expit(np.asarray(logits, dtype=np.float64))),
        ("calibrated", calibration.probabilities(np.asarray(logits, np.float64))),
    ):
        bins = reliability_bins(y, p, n_bins=n_bins)
        out[kind] = {
            "brier": brier_score(y, p),
            "ece": _ece(bins),
            "bins": {k: v.tolist() for k, v in bins.items()},
        }
    return out


class _LogitColumn(ClassifierMixin, BaseEstimator):
    """Column 0 of ``X`` *is* the decision function: out-of-fold logits as a fitted
    classifier, so scikit-learn's calibration can be fitted on them directly."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> _LogitColumn:
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)[:, 0]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.decision_function(X) > 0).astype(np.int64)


def _platt_fit(z: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> tuple[float, float]:
    """``(slope, offset)`` of scikit-learn's Platt fit of ``y`` on the logits ``z``.

    The fitted map is read back through the public ``predict_proba`` at two logits near the
    data's centre, where its probabilities are far from 0 and 1: the calibrated logit is
    linear in ``z``, so two points give slope and offset to ~1e-12.
    """
    column = z[:, None]
    calibrator = CalibratedClassifierCV(
        FrozenEstimator(_LogitColumn().fit(column, y)),
        method="sigmoid",
        cv=[(np.arange(z.size), np.arange(z.size))],  # frozen: the "folds" only hand z over
    )
    centre = float(np.average(z, weights=weights))
    step = max(float(np.std(z)), 1e-6) * 1e-3
    at = np.array([[centre], [centre + step]])
    with warnings.catch_warnings(), _checked_inputs():
        # The frozen pass-through takes no sample_weight: the weights are the calibration's.
        warnings.filterwarnings("ignore", message=".*does not appear to accept sample_weight")
        calibrator.fit(column, y, sample_weight=weights)
        low, high = logit(calibrator.predict_proba(at)[:, 1])
    slope = (high - low) / step
    return float(slope), float(low - slope * centre)


def _checked_inputs() -> Any:
    """scikit-learn without its own input checks: ours (``_check_pairs`` and the fit's) have
    run; its repeated ones cost ~1 ms per call, several per build."""
    return config_context(assume_finite=True, skip_parameter_validation=True)


def _check_pairs(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if y.ndim != 1 or y.shape != p.shape or y.size == 0:
        raise ValidationError(f"need one probability per label, got {p.shape} and {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValidationError("labels must be binary (1 = positive, 0 = negative)")
    if not ((p >= 0) & (p <= 1)).all():
        raise ValidationError("probabilities must lie in [0, 1]")
    return y, p
