"""ShotClassifier is a scikit-learn estimator: it passes scikit-learn's own estimator checks."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from va_app.learn.classifier import ShotClassifier


@parametrize_with_checks([ShotClassifier(), ShotClassifier(class_weight=None, C=10.0)])
def test_shot_classifier_meets_scikit_learns_estimator_checks(estimator, check) -> None:
    check(estimator)
