"""The shot classifier: fits like scikit-learn, scores like one matrix product, saves exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from va_app.errors import ValidationError
from va_app.learn.classifier import (
    MIN_NEGATIVES,
    MIN_POSITIVES,
    NotEnoughLabelsError,
    ShotClassifier,
    check_trainable,
    score_corpus,
)


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def labelled() -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm 64-d embeddings of two overlapping concepts, 80 positives and 120 negatives."""
    rng = np.random.default_rng(0)
    direction = rng.normal(size=64)
    pos = rng.normal(size=(80, 64)) + 0.4 * direction
    neg = rng.normal(size=(120, 64)) - 0.4 * direction
    return _unit(np.vstack([pos, neg])), np.r_[np.ones(80, np.int8), np.zeros(120, np.int8)]


@pytest.fixture(scope="module")
def corpus() -> np.ndarray:
    return _unit(np.random.default_rng(1).normal(size=(5000, 64)))


def test_fit_returns_self_with_fitted_attributes(labelled) -> None:
    clf = ShotClassifier()
    assert not hasattr(clf, "coef_")
    assert clf.fit(*labelled) is clf
    assert clf.coef_.dtype == np.float32 and clf.coef_.shape == (64,)
    assert isinstance(clf.intercept_, float)
    assert clf.classes_.tolist() == [0, 1]


def test_fitting_twice_gives_identical_weights(labelled) -> None:
    first, second = ShotClassifier().fit(*labelled), ShotClassifier().fit(*labelled)
    assert np.array_equal(first.coef_, second.coef_) and first.intercept_ == second.intercept_


def test_probabilities_equal_scikit_learns(labelled, corpus) -> None:
    X, y = labelled
    ours = ShotClassifier(C=3.0).fit(X, y)
    reference = LogisticRegression(C=3.0, class_weight="balanced", max_iter=1000).fit(X, y)
    assert np.allclose(ours.predict_proba(corpus), reference.predict_proba(corpus), atol=1e-5)
    logits = reference.decision_function(corpus)
    assert np.allclose(ours.decision_function(corpus), logits, atol=1e-4)
    assert np.array_equal(ours.predict(corpus), reference.predict(corpus))


def test_predict_proba_is_float32_and_rows_sum_to_one(labelled, corpus) -> None:
    proba = ShotClassifier().fit(*labelled).predict_proba(corpus)
    assert proba.dtype == np.float32 and proba.shape == (5000, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_balanced_class_weight_centres_the_threshold(labelled) -> None:
    # Ten times more negatives than positives: unweighted, the model leans to "negative";
    # balanced, it still finds most positives.
    X, y = labelled
    keep = np.r_[np.arange(8), np.arange(80, 200)]
    X, y = X[keep], y[keep]
    balanced = ShotClassifier().fit(X, y).predict(X[y == 1]).mean()
    plain = ShotClassifier(class_weight=None).fit(X, y).predict(X[y == 1]).mean()
    assert balanced > plain


def test_score_corpus_equals_predict_proba_chunked_or_not(labelled, corpus) -> None:
    clf = ShotClassifier().fit(*labelled)
    expected = clf.predict_proba(corpus)[:, 1]
    scores = score_corpus(corpus, clf)
    assert scores.dtype == np.float32 and scores.shape == (5000,)
    assert np.allclose(scores, expected, atol=1e-6)
    assert np.allclose(score_corpus(corpus, clf, chunk_rows=777), expected, atol=1e-6)


def test_score_corpus_reads_any_row_sliceable_matrix(labelled, corpus, tmp_path) -> None:
    clf = ShotClassifier().fit(*labelled)
    np.save(tmp_path / "x.npy", corpus.astype(np.float16))
    stored = np.load(tmp_path / "x.npy", mmap_mode="r")
    scores = score_corpus(stored, clf, chunk_rows=1000)
    assert np.allclose(scores, score_corpus(corpus, clf), atol=1e-3)


def test_saved_and_loaded_classifier_scores_identically(labelled, corpus) -> None:
    clf = ShotClassifier(C=2.0).fit(*labelled)
    saved = json.loads(json.dumps(clf.to_dict()))
    loaded = ShotClassifier.from_dict(saved)
    assert loaded.get_params() == clf.get_params()
    assert np.array_equal(score_corpus(corpus, loaded), score_corpus(corpus, clf))


def test_loading_something_else_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a saved shot classifier"):
        ShotClassifier.from_dict({"coef": [1.0], "intercept": 0.0})


def test_classifier_clones_like_a_scikit_learn_estimator(labelled) -> None:
    clf = ShotClassifier(C=0.5, class_weight=None).fit(*labelled)
    copy = clone(clf)
    assert copy.get_params() == {"C": 0.5, "class_weight": None, "max_iter": 1000}
    assert not hasattr(copy, "coef_")


def test_boolean_labels_are_accepted(labelled) -> None:
    X, y = labelled
    from_bools = ShotClassifier().fit(X, y.astype(bool))
    assert np.array_equal(from_bools.coef_, ShotClassifier().fit(X, y).coef_)


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.ones(5), [0, 1, 0, 1, 0], "Expected 2D array"),
        (np.full((4, 3), np.nan), [0, 1, 0, 1], "NaN"),
        (np.ones((4, 3)), [0, 1, 0], "inconsistent numbers of samples"),
        (np.ones((4, 3)), [0, 1, 2, 1], "binary"),
        (np.ones((4, 3)), [0.5, 1, 0, 1], "continuous"),
    ],
)
def test_bad_training_data_is_refused(X, y, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ShotClassifier().fit(X, y)


def test_any_two_labels_train_and_the_second_is_positive(labelled) -> None:
    X, y = labelled
    named = np.where(y == 1, "yes", "no")  # sorted: "no" < "yes", so "yes" is positive
    clf = ShotClassifier().fit(X, named)
    assert clf.classes_.tolist() == ["no", "yes"]
    assert np.array_equal(clf.coef_, ShotClassifier().fit(X, y).coef_)
    assert set(clf.predict(X)) == {"no", "yes"}


def test_integer_embeddings_are_converted_like_scikit_learn_does(labelled) -> None:
    X, y = labelled
    rounded = np.round(X * 100).astype(np.int64)
    as_floats = ShotClassifier().fit(rounded.astype(np.float64), y)
    assert np.array_equal(ShotClassifier().fit(rounded, y).coef_, as_floats.coef_)


def test_one_class_only_is_refused_with_what_is_missing(labelled) -> None:
    X, y = labelled
    with pytest.raises(NotEnoughLabelsError, match="Need 1 more negative to train"):
        ShotClassifier().fit(X[y == 1], y[y == 1])


def test_scoring_embeddings_of_another_size_is_refused(labelled) -> None:
    clf = ShotClassifier().fit(*labelled)
    with pytest.raises(ValueError, match="32-d embeddings but the classifier was trained on 64-d"):
        score_corpus(np.zeros((3, 32), np.float32), clf)


# ---------------------------------------------------------------- gating


def test_gate_message_says_how_many_more_of_each() -> None:
    assert MIN_POSITIVES == MIN_NEGATIVES == 10
    with pytest.raises(NotEnoughLabelsError) as caught:
        check_trainable(7, 3)
    assert str(caught.value) == (
        "Need 3 more positives and 7 more negatives to build (have 7 / 3; minimum 10 each)."
    )
    assert (caught.value.missing_pos, caught.value.missing_neg) == (3, 7)
    assert isinstance(caught.value, ValidationError)


@pytest.mark.parametrize(
    ("n_pos", "n_neg", "expected"),
    [
        (9, 12, "Need 1 more positive to build (have 9 / 12; minimum 10 each)."),
        (15, 0, "Need 10 more negatives to build (have 15 / 0; minimum 10 each)."),
    ],
)
def test_gate_names_only_what_is_missing(n_pos: int, n_neg: int, expected: str) -> None:
    with pytest.raises(NotEnoughLabelsError) as caught:
        check_trainable(n_pos, n_neg)
    assert str(caught.value) == expected


def test_gate_opens_at_the_minimum() -> None:
    check_trainable(10, 10)
    check_trainable(3, 4, min_pos=3, min_neg=4)


def _blas_threads() -> list[int]:
    """Threads of numpy's and scipy's own OpenBLAS (the two that fight over the cores)."""
    from threadpoolctl import threadpool_info

    return [
        pool["num_threads"]
        for pool in threadpool_info()
        if pool["internal_api"] == "openblas"
        and ("numpy" in pool["filepath"] or "scipy" in pool["filepath"])
    ]


def test_thread_limit_is_lifted_after_fitting_even_when_nested(labelled) -> None:
    from va_app.learn.classifier import single_threaded

    before = _blas_threads()
    with single_threaded():
        ShotClassifier().fit(*labelled)  # nested limit inside fit
        assert _blas_threads() == [1] * len(before)
    ShotClassifier().fit(*labelled)
    assert _blas_threads() == before


def test_fits_from_concurrent_threads_restore_the_original_thread_counts(labelled) -> None:
    # Streamlit serves each session from its own thread; builds may overlap.
    import threading

    before = _blas_threads()

    def fit_many() -> None:
        for _ in range(15):
            ShotClassifier().fit(*labelled)

    threads = [threading.Thread(target=fit_many) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert _blas_threads() == before
