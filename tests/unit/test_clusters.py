"""Corpus clusters for the diversity score: fitted on a sample, every shot assigned."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from va_app.learn.clusters import ClusterModel, assign_clusters, fit_clusters


def _blobs(n: int, *, k: int = 10, d: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit-ish vectors around ``k`` well-separated centres, and each one's true blob."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    truth = rng.integers(0, k, n)
    return (centres[truth] + rng.normal(0, 0.2, (n, d))).astype(np.float32), truth


def test_recovers_well_separated_blobs_from_a_sample() -> None:
    X, truth = _blobs(30_000)
    model = fit_clusters(X, k=10, sample_size=2_000, seed=0)
    assert model.k == 10 and model.n_fitted == 2_000
    assert model.centroids.dtype == np.float32 and model.centroids.shape == (10, 32)
    assert adjusted_rand_score(truth, model.assign(X)) == 1.0


def test_same_seed_same_centroids() -> None:
    X, _ = _blobs(5_000, seed=1)
    a = fit_clusters(X, sample_size=1_000, seed=3)
    b = fit_clusters(X, sample_size=1_000, seed=3)
    assert np.array_equal(a.centroids, b.centroids)


def test_assignment_equals_scikit_learns_predict() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(20_000, 16)).astype(np.float32)  # no structure: many close calls
    kmeans = KMeans(n_clusters=10, n_init=1, random_state=0).fit(X[:3_000])
    ours = assign_clusters(X, kmeans.cluster_centers_, chunk_rows=4_096)
    theirs = kmeans.predict(X)
    # both work in float32: allow only rows whose two nearest centroids are (nearly) tied
    d = ((X[:, None, :].astype(np.float64) - kmeans.cluster_centers_[None]) ** 2).sum(-1)
    d.sort(axis=1)
    near_tie = d[:, 1] - d[:, 0] < 1e-3
    assert np.array_equal(ours[~near_tie], theirs[~near_tie])
    assert near_tie.mean() < 0.001


def test_chunking_does_not_change_assignments() -> None:
    X, _ = _blobs(3_000, seed=3)
    centroids = fit_clusters(X, sample_size=500).centroids
    whole = assign_clusters(X, centroids, chunk_rows=10_000)
    assert whole.dtype == np.int32
    assert np.array_equal(assign_clusters(X, centroids, chunk_rows=7), whole)


def test_a_corpus_smaller_than_k_gets_one_cluster_per_shot() -> None:
    X, _ = _blobs(4, seed=4)
    model = fit_clusters(X, k=10)
    assert model.k == 4
    assert sorted(model.assign(X).tolist()) == [0, 1, 2, 3]


def test_tiny_and_duplicate_corpora_still_cluster() -> None:
    one = np.ones((1, 8), dtype=np.float32)
    assert fit_clusters(one).assign(one).tolist() == [0]
    same = np.ones((50, 8), dtype=np.float32)
    assert set(fit_clusters(same, k=10).assign(same).tolist()) <= set(range(10))


def test_fitting_reads_only_the_sampled_rows() -> None:
    class RowCounter:
        """A matrix that records how many rows were read (like an h5py dataset)."""

        def __init__(self, X: np.ndarray) -> None:
            self.X, self.shape, self.rows_read = X, X.shape, 0

        def __getitem__(self, rows):
            out = self.X[rows]
            self.rows_read += len(out)
            return out

    X, _ = _blobs(10_000, seed=5)
    matrix = RowCounter(X)
    fit_clusters(matrix, sample_size=700)
    assert matrix.rows_read == 700


@pytest.mark.parametrize(
    ("X", "centroids", "message"),
    [
        (np.zeros(5), np.zeros((2, 5)), "2-D"),
        (np.zeros((0, 5)), np.zeros((2, 5)), "no shots"),
        (np.zeros((3, 5)), np.zeros((2, 4)), "k × 5"),
    ],
)
def test_bad_inputs_are_refused(X, centroids, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        assign_clusters(X, centroids)


def test_cluster_model_k_follows_centroids() -> None:
    assert ClusterModel(np.zeros((7, 3), np.float32), seed=0, n_fitted=7).k == 7
