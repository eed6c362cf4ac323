"""Calibrated probabilities: Platt scaling on out-of-fold logits, and the measures that judge it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from va_app.errors import ValidationError
from va_app.learn.calibration import (
    MIN_SLOPE,
    PlattScaling,
    brier_score,
    calibration_report,
    expected_calibration_error,
    reliability_bins,
)
from va_app.learn.classifier import ShotClassifier, score_corpus
from va_app.learn.scores import cross_validate


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _concept(n_pos: int, n_neg: int, *, separation: float, seed: int = 0):
    """Unit-norm 64-d embeddings of a concept along one direction, like CLIP's: a shared
    component (mean cosine ~0.5) plus noise; positives shifted by ``separation``."""
    rng = np.random.default_rng(seed)
    common, direction = rng.normal(size=64), rng.normal(size=64)
    common, direction = common / np.linalg.norm(common), direction / np.linalg.norm(direction)
    rows = common + rng.normal(scale=0.1, size=(n_pos + n_neg, 64))
    rows[:n_pos] += separation * direction
    return _unit(rows), np.r_[np.ones(n_pos, np.int8), np.zeros(n_neg, np.int8)]


@pytest.fixture(scope="module")
def calibrated():
    """A classifier fitted and calibrated the way a build does it (20 + 20 labels), and a
    held-out set drawn from the same concept."""
    X, y = _concept(220, 220, separation=0.5)
    train = np.r_[0:20, 220:240]
    clf = ShotClassifier().fit(X[train], y[train])
    raw = score_corpus(X, clf)
    cv = cross_validate(X[train], y[train])
    clf.calibrate(cv.logits, y[train])
    return clf, X, y, raw, cv, train


def test_raw_scores_are_squashed_and_calibrated_ones_read_as_confident(calibrated):
    clf, X, y, raw, *_ = calibrated
    p = score_corpus(X, clf)
    assert np.median(raw[y == 1]) < 0.75  # what the expert used to read
    assert np.median(p[y == 1]) >= 0.9 and np.median(p[y == 0]) <= 0.1


def test_calibration_is_strictly_increasing_so_rankings_and_average_precision_stay(calibrated):
    clf, X, y, raw, *_ = calibrated
    p = score_corpus(X, clf)
    assert clf.calibration_.slope > 1
    logits = clf.decision_function(X).astype(np.float64)
    order = np.argsort(logits, kind="stable")
    assert np.all(np.diff(clf.calibration_.logits(logits[order])) > 0)
    assert average_precision_score(y, p) == average_precision_score(y, raw)
    assert np.array_equal(np.argsort(-p, kind="stable"), np.argsort(-raw, kind="stable"))


def test_calibration_improves_brier_and_ece_on_held_out_shots(calibrated):
    clf, X, y, raw, _, train = calibrated
    held_out = np.setdiff1d(np.arange(y.size), train)
    p = score_corpus(X, clf)
    assert brier_score(y[held_out], p[held_out]) < brier_score(y[held_out], raw[held_out]) / 2
    assert (
        expected_calibration_error(y[held_out], p[held_out])
        < expected_calibration_error(y[held_out], raw[held_out]) / 2
    )


def test_scoring_folds_the_calibration_into_the_weights(calibrated):
    clf, X, *_ = calibrated
    expected = expit(clf.calibration_.logits(clf.decision_function(X).astype(np.float64)))
    np.testing.assert_allclose(score_corpus(X, clf), expected, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], expected, atol=1e-6)
    assert np.array_equal(clf.predict(X), (expected > 0.5).astype(np.int64))


def test_a_model_without_out_of_fold_skill_gets_a_flat_but_increasing_map():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=60)
    y = (logits < 0).astype(int)  # out of fold, the model is exactly wrong
    calibration = PlattScaling.fit(logits, y)
    assert calibration.slope == MIN_SLOPE
    assert calibration.probabilities(logits) == pytest.approx(0.5, abs=0.01)


def test_saved_classifiers_carry_the_calibration_and_old_ones_read_uncalibrated(calibrated):
    clf, X, *_ = calibrated
    loaded = ShotClassifier.from_dict(json.loads(json.dumps(clf.to_dict())))
    assert loaded.calibration_ == clf.calibration_
    assert np.array_equal(score_corpus(X, loaded), score_corpus(X, clf))
    old = {**clf.to_dict(), "format": "va_app.learn.ShotClassifier/1"}
    del old["calibration"]
    uncalibrated = ShotClassifier.from_dict(old)
    assert uncalibrated.calibration_ == PlattScaling()
    np.testing.assert_allclose(
        score_corpus(X, uncalibrated), expit(clf.decision_function(X)), atol=1e-6
    )


def test_measures_have_their_textbook_values():
    y, p = np.array([0, 1, 1, 0]), np.array([0.25, 0.85, 0.65, 0.05])
    assert brier_score(y, p) == pytest.approx((0.0625 + 0.0225 + 0.1225 + 0.0025) / 4)
    bins = reliability_bins(y, p, n_bins=5)  # bins [0, .2] (.2, .4] ... (.8, 1]
    assert bins["bin"].tolist() == [0, 1, 3, 4]
    assert bins["count"].tolist() == [1, 1, 1, 1]
    assert bins["observed"].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert bins["mean_predicted"].tolist() == pytest.approx([0.05, 0.25, 0.65, 0.85])
    # |0 − .05| + |0 − .25| + |1 − .65| + |1 − .85|, each one shot of four
    assert expected_calibration_error(y, p, n_bins=5) == pytest.approx(0.8 / 4)
    assert expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0


def test_reliability_bins_are_scikit_learns_calibration_curve():
    rng = np.random.default_rng(5)
    p = np.r_[rng.random(500), 0.0, 0.2, 0.5, 1.0]  # edges fall in the lower bin, as there
    y = (rng.random(p.size) < p).astype(int)
    observed, predicted = calibration_curve(y, p, n_bins=10)
    bins = reliability_bins(y, p, n_bins=10)
    assert np.array_equal(bins["observed"], observed)
    assert np.array_equal(bins["mean_predicted"], predicted)
    assert bins["count"].sum() == p.size


def test_platt_scaling_is_scikit_learns_sigmoid_calibration():
    rng = np.random.default_rng(4)
    y = (rng.random(300) < 0.3).astype(int)
    logits = rng.normal(size=300) * 0.4 + 1.5 * y - 0.7
    reference = CalibratedClassifierCV(
        FrozenEstimator(LogisticRegression().fit(logits[:, None], y)), method="sigmoid"
    ).fit(logits[:, None], y)
    ours = PlattScaling.fit(logits, y, class_weight=None)
    expected = reference.predict_proba(logits[:, None])[:, 1]
    # The reference calibrates the frozen model's affine map of the logits: the same fit, to the
    # optimiser's tolerance.
    np.testing.assert_allclose(ours.probabilities(logits), expected, rtol=1e-5)


def test_bad_inputs_are_refused_with_a_reason():
    with pytest.raises(ValidationError, match="slope must be positive"):
        PlattScaling(slope=-1.0)
    with pytest.raises(ValidationError, match="both classes"):
        PlattScaling.fit(np.zeros(4), np.ones(4))
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        brier_score(np.array([1]), np.array([1.5]))


def test_the_report_stored_with_a_build_is_plain_json(calibrated):
    clf, _, y, _, cv, train = calibrated
    report = json.loads(json.dumps(calibration_report(cv.logits, y[train], clf.calibration_)))
    assert report["n"] == 40 and report["method"] == "platt"
    assert report["calibrated"]["brier"] < report["raw"]["brier"]
    assert sum(report["raw"]["bins"]["count"]) == 40
